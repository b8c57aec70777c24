package dimse

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
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

// FuzzSniff feeds arbitrary data set bytes, as they arrive in P-DATA, to the
// sniffer the SCP runs over the start of every C-STORE data set (inflating
// a deflated one) to compare its SOP UIDs with the request's: it must not
// panic, must stay within its 16 KiB, and must accept the UIDs it found.
func FuzzSniff(f *testing.F) {
	body := func(ts string) []byte {
		b := testInstance("1.2.3.4", "1.2.3.4", 64)
		m, err := ReadFileMeta(bufioReader(b))
		if err != nil {
			f.Fatal(err)
		}
		ds := b[m.DataSetOffset:]
		if ts == ImplicitVRLittleEndian {
			var im []byte
			for _, e := range [][2]string{{"\x08\x00\x16\x00", MRImageStorage}, {"\x08\x00\x18\x00", "1.2.3.4"}} {
				v := e[1]
				if len(v)%2 == 1 {
					v += "\x00"
				}
				im = append(im, e[0]...)
				im = binary.LittleEndian.AppendUint32(im, uint32(len(v)))
				im = append(im, v...)
			}
			return im
		}
		if ts == DeflatedExplicitVRLittleEndian {
			var out bytes.Buffer
			w, _ := flate.NewWriter(&out, flate.BestSpeed)
			w.Write(ds)
			w.Close()
			return out.Bytes()
		}
		return ds
	}
	for i, ts := range []string{ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian} {
		f.Add(body(ts), uint8(i), uint16(0))
		f.Add(body(ts), uint8(i), uint16(7))
	}
	f.Add([]byte{0x08, 0x00, 0x16, 0x00, 'S', 'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF}, uint8(0), uint16(1))
	f.Fuzz(func(t *testing.T, data []byte, syntax uint8, chunk uint16) {
		ts := []string{ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian}[int(syntax)%3]
		var s sniffer
		step := int(chunk)%4096 + 1
		for b := data; len(b) > 0; {
			n := min(step, len(b))
			if m, err := s.Write(b[:n]); m != n || err != nil {
				t.Fatalf("Write = %d, %v", m, err)
			}
			b = b[n:]
		}
		if len(s.buf) > sniffLen {
			t.Fatalf("sniffer kept %d bytes", len(s.buf))
		}
		_ = s.check(ts, MRImageStorage, "1.2.3.4")
		if ts == DeflatedExplicitVRLittleEndian {
			return
		}
		if class, inst, ok := findSOPUIDs(s.buf, ts != ImplicitVRLittleEndian); ok {
			if why := s.check(ts, class, inst); why != "" {
				t.Fatalf("sniffer refuses the UIDs it found: %s", why)
			}
		}
	})
}
