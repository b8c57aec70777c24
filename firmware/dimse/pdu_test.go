package dimse

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func sampleRQ() *AssociateRQ {
	return &AssociateRQ{
		ProtocolVersion: 1, CalledAE: testAE, CallingAE: testPeer, AppContext: ApplicationContext,
		Contexts: []ContextRQ{
			{ID: 1, AbstractSyntax: VerificationSOPClass, TransferSyntaxes: []string{ImplicitVRLittleEndian}},
			{ID: 3, AbstractSyntax: MRImageStorage, TransferSyntaxes: []string{DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian}},
		},
		UserInfo: UserInfo{MaxPDULength: 16384, ImplementationClassUID: ImplementationClassUID, ImplementationVersionName: ImplementationVersionName,
			Other: []SubItem{{Type: 0x54, Data: []byte{0, 2, 'x', 'y', 1, 0}}}},
	}
}

func TestPDURoundTrip(t *testing.T) {
	tests := []struct {
		name string
		pdu  PDU
	}{
		{"associate-rq", sampleRQ()},
		{"associate-ac", &AssociateAC{ProtocolVersion: 1, CalledAE: testAE, CallingAE: testPeer, AppContext: ApplicationContext,
			Contexts: []ContextAC{{ID: 1, Result: ResultAcceptance, TransferSyntax: ImplicitVRLittleEndian}, {ID: 3, Result: ResultAbstractSyntaxNotSupported, TransferSyntax: ImplicitVRLittleEndian}},
			UserInfo: UserInfo{MaxPDULength: 0, ImplementationClassUID: ImplementationClassUID}}},
		{"associate-rj", &AssociateRJ{Result: RejectTransient, Source: SourceServiceProviderPresentation, Reason: ReasonLocalLimitExceeded}},
		{"p-data-tf", &PDataTF{Items: []PDV{{ContextID: 1, Command: true, Last: true, Data: []byte{1, 2, 3, 4}}, {ContextID: 1, Last: false, Data: []byte{9}}}}},
		{"release-rq", &ReleaseRQ{}},
		{"release-rp", &ReleaseRP{}},
		{"abort", &Abort{Source: AbortSourceProvider, Reason: AbortReasonUnexpectedPDU}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := EncodePDU(nil, tt.pdu)
			got, err := DecodePDU(b, 1<<20)
			if err != nil {
				t.Fatalf("DecodePDU: %v", err)
			}
			if d := cmp.Diff(tt.pdu, got); d != "" {
				t.Errorf("round trip (-want +got):\n%s", d)
			}
		})
	}
}

func TestDecodePDUErrors(t *testing.T) {
	rq := EncodePDU(nil, sampleRQ())
	withLen := func(b []byte, n uint32) []byte {
		b = bytes.Clone(b)
		binary.BigEndian.PutUint32(b[2:], n)
		return b
	}
	badItem := bytes.Clone(rq)
	binary.BigEndian.PutUint16(badItem[pduHeaderLen+68+2:], 0xFFFF) // application context item length
	pdvTooLong := EncodePDU(nil, &PDataTF{Items: []PDV{{ContextID: 1, Data: []byte{1, 2}}}})
	binary.BigEndian.PutUint32(pdvTooLong[pduHeaderLen:], 100)
	tests := []struct {
		name   string
		in     []byte
		reason byte
	}{
		{"empty", nil, AbortReasonInvalidParam},
		{"unknown type", []byte{0x09, 0, 0, 0, 0, 4, 0, 0, 0, 0}, AbortReasonUnrecognizedPDU},
		{"2 GB declared P-DATA", withLen([]byte{TypePDataTF, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1, 0}, 2<<30), AbortReasonInvalidParam},
		{"2 GB declared A-ASSOCIATE-RQ", withLen(rq, 2<<30), AbortReasonInvalidParam},
		{"truncated A-ASSOCIATE-RQ", rq[:len(rq)-10], AbortReasonInvalidParam},
		{"length shorter than fixed fields", withLen(rq[:pduHeaderLen+20], 20), AbortReasonInvalidParam},
		{"release with body of 5", []byte{TypeReleaseRQ, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0}, AbortReasonInvalidParam},
		{"item length past end", badItem, AbortReasonInvalidParam},
		{"PDV length past end", pdvTooLong, AbortReasonInvalidParam},
		{"P-DATA without PDV", []byte{TypePDataTF, 0, 0, 0, 0, 0}, AbortReasonInvalidParam},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodePDU(tt.in, 1<<20)
			var pe *PDUError
			if !errors.As(err, &pe) || !errors.Is(err, ErrMalformedPDU) {
				t.Fatalf("DecodePDU = %v, want a *PDUError", err)
			}
			if pe.Reason != tt.reason {
				t.Errorf("abort reason = %d, want %d (%v)", pe.Reason, tt.reason, err)
			}
		})
	}
}

// A declared length past the limit is refused from the header alone: the
// reader must not wait for, or allocate, the body.
func TestReadPDUHeaderRefusesHugeLength(t *testing.T) {
	var hdr [pduHeaderLen]byte
	in := []byte{TypePDataTF, 0, 0x7F, 0xFF, 0xFF, 0xFF}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		if _, _, err := readPDUHeader(bytes.NewReader(in), &hdr, 1<<20); !errors.Is(err, ErrMalformedPDU) {
			t.Fatalf("readPDUHeader = %v, want ErrMalformedPDU", err)
		}
	}
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("10 reads of a 2 GB header allocated %d bytes", d)
	}
}

func TestCommandRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		cmd  Command
	}{
		{"c-echo-rq", Command{CommandField: CEchoRQ, MessageID: 7, AffectedSOPClassUID: VerificationSOPClass, CommandDataSetType: NoDataSet}},
		{"c-store-rq", Command{CommandField: CStoreRQ, MessageID: 65535, AffectedSOPClassUID: MRImageStorage, AffectedSOPInstanceUID: "1.2.3.45", Priority: 2, CommandDataSetType: DataSetPresent,
			MoveOriginatorAE: "MOVER", MoveOriginatorMessageID: 3}},
		{"c-store-rsp", Command{CommandField: CStoreRSP, MessageIDBeingRespondedTo: 9, AffectedSOPClassUID: MRImageStorage, AffectedSOPInstanceUID: "1.2.3", CommandDataSetType: NoDataSet,
			Status: StatusOutOfResources, ErrorComment: "disk full"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.cmd.Encode()
			if len(b)%2 != 0 {
				t.Errorf("encoded command has odd length %d", len(b))
			}
			if gl := binary.LittleEndian.Uint32(b[8:]); int(gl) != len(b)-12 {
				t.Errorf("group length %d, want %d", gl, len(b)-12)
			}
			got, err := DecodeCommand(b)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(&tt.cmd, got); d != "" {
				t.Errorf("round trip (-want +got):\n%s", d)
			}
		})
	}
}

func TestDecodeCommandErrors(t *testing.T) {
	good := (&Command{CommandField: CEchoRQ, MessageID: 1, CommandDataSetType: NoDataSet}).Encode()
	elem := func(g, e uint16, v []byte) []byte {
		b := binary.LittleEndian.AppendUint16(nil, g)
		b = binary.LittleEndian.AppendUint16(b, e)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
		return append(b, v...)
	}
	pastEnd := bytes.Clone(good)
	binary.LittleEndian.PutUint32(pastEnd[len(pastEnd)-6:], 100) // last element's length
	tests := []struct {
		name string
		in   []byte
	}{
		{"truncated header", good[:len(good)-3]},
		{"length past end", pastEnd},
		{"wrong group", append(bytes.Clone(good), elem(8, 0x0018, []byte("1.2"))...)},
		{"no command field", elem(0, 0x0800, []byte{1, 1})},
		{"command field not 2 bytes", append(elem(0, 0x0100, []byte{0x30, 0, 0, 0}), elem(0, 0x0800, []byte{1, 1})...)},
		{"out of order", append(elem(0, 0x0800, []byte{1, 1}), elem(0, 0x0100, []byte{0x30, 0})...)},
		{"request without message id", append(elem(0, 0x0100, []byte{0x30, 0}), elem(0, 0x0800, []byte{1, 1})...)},
		{"response without status", append(append(elem(0, 0x0100, []byte{0x30, 0x80}), elem(0, 0x0120, []byte{1, 0})...), elem(0, 0x0800, []byte{1, 1})...)},
		{"huge", make([]byte, maxCommandBytes+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeCommand(tt.in); !errors.Is(err, ErrMalformedCommand) {
				t.Errorf("DecodeCommand = %v, want ErrMalformedCommand", err)
			}
		})
	}
}
