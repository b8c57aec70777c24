package panel

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCRC16CheckValue(t *testing.T) {
	if got := CRC16([]byte("123456789")); got != 0x29B1 {
		t.Fatalf("CRC16(123456789) = %#04x, want 0x29b1 (CRC-16/CCITT-FALSE check value)", got)
	}
}

func TestCOBS(t *testing.T) {
	tests := []struct {
		name    string
		raw     []byte
		encoded []byte
	}{
		// Vectors from the COBS paper (Cheshire and Baker) / Wikipedia.
		{"one zero", []byte{0x00}, []byte{0x01, 0x01}},
		{"two zeros", []byte{0x00, 0x00}, []byte{0x01, 0x01, 0x01}},
		{"zero inside", []byte{0x11, 0x22, 0x00, 0x33}, []byte{0x03, 0x11, 0x22, 0x02, 0x33}},
		{"no zero", []byte{0x11, 0x22, 0x33, 0x44}, []byte{0x05, 0x11, 0x22, 0x33, 0x44}},
		{"trailing zero", []byte{0x11, 0x00, 0x00, 0x00}, []byte{0x02, 0x11, 0x01, 0x01, 0x01}},
		{"254 non-zero", bytes.Repeat([]byte{0x01}, 254), append([]byte{0xFF}, bytes.Repeat([]byte{0x01}, 254)...)},
		{"255 non-zero", bytes.Repeat([]byte{0x01}, 255), append(append([]byte{0xFF}, bytes.Repeat([]byte{0x01}, 254)...), 0x02, 0x01)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := cobsEncode(nil, tt.raw)
			if diff := cmp.Diff(tt.encoded, enc); diff != "" {
				t.Errorf("encode (-want +got):\n%s", diff)
			}
			dec, err := cobsDecode(nil, enc)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.raw, dec); diff != "" {
				t.Errorf("decode (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMessageRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
		seq  uint8
	}{
		{"hello", Hello{Role: RolePanel, MinVersion: 1, MaxVersion: 1, Caps: CapDisplay | CapButtons, TextWidth: 32, Session: 0xBEEF}, 1},
		{"heartbeat", Heartbeat{}, 0},
		{"ack", Ack{}, 200},
		{"state positive", State{Show: Positive, Count: 12}, 7},
		{"state fault", State{Show: Fault, Code: FaultThermal}, 255},
		{"text", Text{Line: "POSITIVE: 12 LESIONS"}, 3},
		{"empty text", Text{}, 4},
		{"button", Button{ID: ButtonSelfTest, Long: true}, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := EncodeFrame(tt.msg, tt.seq)
			if err != nil {
				t.Fatal(err)
			}
			w, err := f.AppendWire(nil)
			if err != nil {
				t.Fatal(err)
			}
			if w[len(w)-1] != 0 || bytes.IndexByte(w[:len(w)-1], 0) >= 0 {
				t.Fatalf("wire % x: want exactly one 0x00, at the end", w)
			}
			g, err := DecodeFrame(w[:len(w)-1])
			if err != nil {
				t.Fatal(err)
			}
			if g.Seq != tt.seq || g.Type != tt.msg.Type() || g.Version != Version {
				t.Errorf("header = %d/%v/%d, want %d/%v/%d", g.Version, g.Type, g.Seq, Version, tt.msg.Type(), tt.seq)
			}
			m, err := DecodeMessage(g)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.msg, m); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
}

// wire builds a frame from raw header+payload bytes with a correct CRC.
func wire(raw ...byte) []byte {
	raw = append(raw, byte(CRC16(raw)>>8), byte(CRC16(raw)))
	return cobsEncode(nil, raw)
}

func TestDecodeRejects(t *testing.T) {
	good := wire(1, byte(TypeState), 5, byte(Positive), 2, 0, 0)
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-1] ^= 0x40
	tests := []struct {
		name string
		enc  []byte
		want error
	}{
		{"bad crc", badCRC, ErrBadFrame},
		{"too short", wire(1, 2), ErrBadFrame},
		{"cobs overrun", []byte{0x09, 1, 2}, ErrBadFrame},
		{"too long", bytes.Repeat([]byte{1}, MaxEncodedLen+1), ErrBadFrame},
		{"other version", wire(2, byte(TypeHeartbeat), 0), ErrVersion},
		{"unknown type", wire(1, 0x7F, 1), ErrUnknownType},
		{"state payload short", wire(1, byte(TypeState), 5, 4), ErrBadFrame},
		{"state indication unknown", wire(1, byte(TypeState), 5, 99, 0, 0, 0), ErrBadFrame},
		{"reliable with seq 0", wire(1, byte(TypeState), 0, 1, 0, 0, 0), ErrBadFrame},
		{"text not ascii", wire(1, byte(TypeText), 5, 'J', 0xC3, 0xA9), ErrBadFrame},
		{"text with newline", wire(1, byte(TypeText), 5, 'a', '\n'), ErrBadFrame},
		{"hello bad role", wire(1, byte(TypeHello), 1, 9, 1, 1, 0, 0, 0, 1), ErrBadFrame},
		{"button unknown", wire(1, byte(TypeButton), 1, 9, 0), ErrBadFrame},
		{"ack seq 0", wire(1, byte(TypeAck), 0), ErrBadFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := DecodeFrame(tt.enc)
			if err == nil {
				_, err = DecodeMessage(f)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := DecodeFrame(good); err != nil {
		t.Fatalf("the unaltered frame fails: %v", err)
	}
}

func TestEncodeRejectsBadText(t *testing.T) {
	for _, s := range []string{"Müller", "line\r\n", string(bytes.Repeat([]byte{'x'}, MaxText+1))} {
		if _, err := EncodeFrame(Text{Line: s}, 1); err == nil {
			t.Errorf("EncodeFrame(Text %q) succeeded, want an error", s)
		}
	}
}

func TestSplitter(t *testing.T) {
	a := wire(1, byte(TypeHeartbeat), 0)
	b := wire(1, byte(TypeAck), 3)
	stream := append(append(append([]byte{0, 0}, a...), 0), bytes.Repeat([]byte{0x55}, 500)...)
	stream = append(stream, 0)
	stream = append(append(stream, b...), 0)
	var got [][]byte
	var sp Splitter
	// Feed one byte at a time, as a slow UART would.
	for i := range stream {
		sp.Feed(stream[i:i+1], func(enc []byte) { got = append(got, bytes.Clone(enc)) })
	}
	if diff := cmp.Diff([][]byte{a, b}, got); diff != "" {
		t.Errorf("frames (-want +got):\n%s", diff)
	}
	if sp.Dropped != 500 {
		t.Errorf("Dropped = %d, want 500", sp.Dropped)
	}
}

// TestProtocolDocExample keeps the worked example in PROTOCOL.md true.
func TestProtocolDocExample(t *testing.T) {
	f, err := EncodeFrame(State{Show: Positive, Count: 3}, 5)
	if err != nil {
		t.Fatal(err)
	}
	w, err := f.AppendWire(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0x06, 0x01, 0x10, 0x05, 0x04, 0x03, 0x01, 0x03, 0xE3, 0xDD, 0x00}
	if diff := cmp.Diff(want, w); diff != "" {
		t.Errorf("wire bytes (-want +got):\n%s", diff)
	}
}
