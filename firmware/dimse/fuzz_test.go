package dimse

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecodePDU feeds arbitrary bytes to the PDU decoder and to the
// streaming reader the SCP uses: neither may panic or allocate past the
// limits, and what decodes must encode and decode again to the same PDU.
func FuzzDecodePDU(f *testing.F) {
	f.Add(EncodePDU(nil, sampleRQ()))
	f.Add(EncodePDU(nil, &AssociateAC{ProtocolVersion: 1, CalledAE: testAE, CallingAE: testPeer, AppContext: ApplicationContext,
		Contexts: []ContextAC{{ID: 1, TransferSyntax: ExplicitVRLittleEndian}}, UserInfo: UserInfo{MaxPDULength: 16384}}))
	f.Add(EncodePDU(nil, &AssociateRJ{Result: 1, Source: 1, Reason: 3}))
	f.Add(EncodePDU(nil, &PDataTF{Items: []PDV{{ContextID: 1, Command: true, Last: true,
		Data: (&Command{CommandField: CEchoRQ, MessageID: 1, CommandDataSetType: NoDataSet}).Encode()}}}))
	f.Add(EncodePDU(nil, &ReleaseRQ{}))
	f.Add(EncodePDU(nil, &Abort{Source: 2, Reason: 1}))
	f.Add([]byte{TypePDataTF, 0, 0x7F, 0xFF, 0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, b []byte) {
		const max = 64 << 10
		p, err := DecodePDU(b, max)
		if err != nil {
			if !errors.Is(err, ErrMalformedPDU) {
				t.Fatalf("error %v is not ErrMalformedPDU", err)
			}
		} else {
			again, err := DecodePDU(EncodePDU(nil, p), max)
			if err != nil {
				t.Fatalf("re-encoded PDU does not decode: %v", err)
			}
			if !bytes.Equal(EncodePDU(nil, again), EncodePDU(nil, p)) {
				t.Fatalf("PDU changes after a round trip")
			}
		}
		// The same bytes through the association reader.
		c := &conn{br: bufioReader(b), maxRecv: max}
		for range 4 {
			if _, err := c.nextPDV(); err != nil {
				break
			}
		}
	})
}

// FuzzDecodeCommand feeds arbitrary bytes to the command-set decoder.
func FuzzDecodeCommand(f *testing.F) {
	f.Add((&Command{CommandField: CEchoRQ, MessageID: 1, AffectedSOPClassUID: VerificationSOPClass, CommandDataSetType: NoDataSet}).Encode())
	f.Add((&Command{CommandField: CStoreRQ, MessageID: 2, AffectedSOPClassUID: MRImageStorage, AffectedSOPInstanceUID: "1.2.3.4", Priority: 0, CommandDataSetType: DataSetPresent}).Encode())
	f.Add((&Command{CommandField: CStoreRSP, MessageIDBeingRespondedTo: 2, AffectedSOPClassUID: MRImageStorage, Status: StatusOutOfResources, ErrorComment: "full", CommandDataSetType: NoDataSet}).Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommand(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedCommand) {
				t.Fatalf("error %v is not ErrMalformedCommand", err)
			}
			return
		}
		// Encode writes only the fields its command field uses, so the
		// round trip is checked from the first encoding on.
		enc := c.Encode()
		again, err := DecodeCommand(enc)
		if err != nil {
			t.Fatalf("re-encoded command does not decode: %v", err)
		}
		if !bytes.Equal(again.Encode(), enc) {
			t.Fatalf("command changes after a round trip: %+v -> %+v", c, again)
		}
	})
}

// FuzzParseStep feeds arbitrary bytes to the MPPS data set parser in both
// transfer syntaxes: it may refuse them, never panic.
func FuzzParseStep(f *testing.F) {
	st := PerformedStep{Status: StepCompleted, StudyInstanceUIDs: []string{"1.2.3"},
		Series: []PerformedSeries{{SeriesInstanceUID: "1.2.3.4", Instances: []string{"1.2.3.4.1", "1.2.3.4.2"}}}}
	ds, err := st.DataSet()
	if err != nil {
		f.Fatal(err)
	}
	for _, ts := range []string{ExplicitVRLittleEndian, ImplicitVRLittleEndian} {
		b, err := encodeDataSet(ds, ts)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, ts == ImplicitVRLittleEndian)
	}
	f.Fuzz(func(t *testing.T, b []byte, implicit bool) {
		ts := ExplicitVRLittleEndian
		if implicit {
			ts = ImplicitVRLittleEndian
		}
		ParseStep(b, ts) //nolint:errcheck // refusals are fine; panics are not
	})
}
