package panel

import (
	"bytes"
	"testing"
)

// FuzzDecodeFrame feeds arbitrary bytes from the wire to the frame and
// message decoders and to a session. It checks that nothing panics, that a
// frame that decodes re-encodes to the same bytes, and that a message that
// decodes survives a round trip.
func FuzzDecodeFrame(f *testing.F) {
	for _, m := range []struct {
		msg Message
		seq uint8
	}{
		{Hello{Role: RoleHost, MinVersion: 1, MaxVersion: 1, Session: 0x1234}, 1},
		{Heartbeat{}, 0},
		{Ack{}, 1},
		{State{Show: Positive, Count: 3}, 2},
		{State{Show: Fault, Code: FaultThermal}, 3},
		{Text{Line: "POSITIVE: 3 LESIONS"}, 4},
		{Button{ID: ButtonAck}, 5},
	} {
		fr, _ := EncodeFrame(m.msg, m.seq)
		w, _ := fr.AppendWire(nil)
		f.Add(w[:len(w)-1])
	}
	f.Add([]byte{})
	f.Add([]byte{0xFF})
	f.Add([]byte{0x01, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := DecodeFrame(data)
		if err == nil {
			w, err := fr.AppendWire(nil)
			if err != nil {
				t.Fatalf("decoded frame does not encode: %v", err)
			}
			if !bytes.Equal(w[:len(w)-1], data) {
				t.Fatalf("re-encoded frame % x differs from input % x", w[:len(w)-1], data)
			}
			if m, err := DecodeMessage(fr); err == nil {
				fr2, err := EncodeFrame(m, fr.Seq)
				if err != nil {
					t.Fatalf("decoded %T does not encode: %v", m, err)
				}
				if fr2.Type != fr.Type || !bytes.Equal(fr2.Payload, fr.Payload) {
					t.Fatalf("message %#v round trip: payload % x, want % x", m, fr2.Payload, fr.Payload)
				}
			}
		}
		// The same bytes as a stream, with delimiters, into a session.
		s := NewSession(SessionConfig{Hello: Hello{Role: RoleHost}})
		s.Start(t0, 1)
		var sp Splitter
		sp.Feed(append(bytes.Clone(data), 0), func(enc []byte) { s.Receive(t0, enc) })
		s.Tick(t0.Add(DefaultPeerTimeout))
	})
}
