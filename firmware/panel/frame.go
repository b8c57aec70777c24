package panel

import (
	"encoding/binary"
	"fmt"
)

// Version is the protocol version this package speaks. It is the first byte
// of every frame; a frame of another version is dropped.
const Version = 1

// Frame limits. A decoded frame is header (3) + payload + CRC (2).
const (
	MaxPayload    = 48
	headerLen     = 3
	crcLen        = 2
	minFrameLen   = headerLen + crcLen
	maxFrameLen   = headerLen + MaxPayload + crcLen
	MaxEncodedLen = maxFrameLen + maxFrameLen/254 + 1 // COBS overhead, without the 0x00 delimiter
)

// Frame is one decoded protocol frame.
type Frame struct {
	Version uint8
	Type    Type
	Seq     uint8 // 0 for frames that are not acknowledged (heartbeat, ack carries the acked seq)
	Payload []byte
}

// AppendWire appends the frame as it goes on the wire: COBS-encoded header,
// payload and CRC, then the 0x00 delimiter.
func (f Frame) AppendWire(dst []byte) ([]byte, error) {
	if len(f.Payload) > MaxPayload {
		return dst, fmt.Errorf("panel: payload of %d bytes is too long (at most %d)", len(f.Payload), MaxPayload)
	}
	raw := make([]byte, 0, maxFrameLen)
	raw = append(raw, f.Version, byte(f.Type), f.Seq)
	raw = append(raw, f.Payload...)
	raw = binary.BigEndian.AppendUint16(raw, CRC16(raw))
	dst = cobsEncode(dst, raw)
	return append(dst, 0), nil
}

// DecodeFrame decodes one COBS-encoded frame without its 0x00 delimiter and
// checks its length and CRC. It does not check the version or the type: the
// session does that, so that it can count what it drops.
func DecodeFrame(enc []byte) (Frame, error) {
	if len(enc) > MaxEncodedLen {
		return Frame{}, fmt.Errorf("panel: frame of %d encoded bytes is too long (at most %d): %w", len(enc), MaxEncodedLen, ErrBadFrame)
	}
	raw, err := cobsDecode(make([]byte, 0, len(enc)), enc)
	if err != nil {
		return Frame{}, err
	}
	if len(raw) < minFrameLen || len(raw) > maxFrameLen {
		return Frame{}, fmt.Errorf("panel: frame of %d bytes has a bad length (expected %d to %d): %w", len(raw), minFrameLen, maxFrameLen, ErrBadFrame)
	}
	body := raw[:len(raw)-crcLen]
	got := binary.BigEndian.Uint16(raw[len(raw)-crcLen:])
	if want := CRC16(body); got != want {
		return Frame{}, fmt.Errorf("panel: frame CRC %#04x does not match %#04x: %w", got, want, ErrBadFrame)
	}
	f := Frame{Version: body[0], Type: Type(body[1]), Seq: body[2]}
	if len(body) > headerLen {
		f.Payload = body[headerLen:]
	}
	return f, nil
}

// CRC16 is CRC-16/CCITT-FALSE: polynomial 0x1021, initial value 0xFFFF, no
// reflection, no final XOR. CRC16([]byte("123456789")) is 0x29B1.
func CRC16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, c := range b {
		crc ^= uint16(c) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// cobsEncode appends the COBS encoding of src (which holds no delimiter) to dst.
func cobsEncode(dst, src []byte) []byte {
	codeAt := len(dst)
	dst = append(dst, 0)
	code := byte(1)
	for i, c := range src {
		if c == 0 {
			dst[codeAt] = code
			codeAt = len(dst)
			dst = append(dst, 0)
			code = 1
			continue
		}
		dst = append(dst, c)
		code++
		if code == 0xFF {
			dst[codeAt] = code
			if i == len(src)-1 {
				return dst // a full block at the end needs no closing code
			}
			codeAt = len(dst)
			dst = append(dst, 0)
			code = 1
		}
	}
	dst[codeAt] = code
	return dst
}

// cobsDecode appends the decoding of one COBS block (no delimiter) to dst.
func cobsDecode(dst, src []byte) ([]byte, error) {
	for i := 0; i < len(src); {
		code := src[i]
		if code == 0 {
			return nil, fmt.Errorf("panel: zero byte at %d inside a COBS frame: %w", i, ErrBadFrame)
		}
		i++
		end := i + int(code) - 1
		if end > len(src) {
			return nil, fmt.Errorf("panel: COBS code %d at %d runs past the frame end %d: %w", code, i-1, len(src), ErrBadFrame)
		}
		for _, c := range src[i:end] {
			if c == 0 {
				return nil, fmt.Errorf("panel: zero byte inside a COBS frame: %w", ErrBadFrame)
			}
		}
		dst = append(dst, src[i:end]...)
		i = end
		if code != 0xFF && i < len(src) {
			dst = append(dst, 0)
		}
	}
	return dst, nil
}

// Splitter cuts a byte stream into encoded frames at each 0x00 delimiter.
// Bytes beyond MaxEncodedLen without a delimiter are dropped up to the next
// delimiter, so line noise cannot grow memory.
type Splitter struct {
	buf      []byte
	overflow bool
	// Dropped counts bytes thrown away as overlong.
	Dropped int
}

// Feed adds bytes and calls fn with each complete encoded frame (empty frames,
// i.e. two delimiters in a row, are skipped). The slice passed to fn is only
// valid during the call.
func (s *Splitter) Feed(b []byte, fn func(enc []byte)) {
	for _, c := range b {
		if c == 0 {
			if !s.overflow && len(s.buf) > 0 {
				fn(s.buf)
			}
			s.buf = s.buf[:0]
			s.overflow = false
			continue
		}
		if s.overflow {
			s.Dropped++
			continue
		}
		if len(s.buf) >= MaxEncodedLen {
			s.Dropped += len(s.buf) + 1
			s.buf = s.buf[:0]
			s.overflow = true
			continue
		}
		s.buf = append(s.buf, c)
	}
}
