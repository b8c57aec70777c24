package dimse

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"io"
)

// sniffLen is how much of a data set the SCP keeps to check its SOP Class
// and Instance UIDs, which sit near its start (group 0008).
const sniffLen = 16 << 10

// sniffer keeps the first bytes of a data set.
type sniffer struct {
	buf []byte
}

func (s *sniffer) Write(p []byte) (int, error) {
	if n := sniffLen - len(s.buf); n > 0 {
		s.buf = append(s.buf, p[:min(n, len(p))]...)
	}
	return len(p), nil
}

// check returns why the data set does not match the request, or "" when it
// matches or the UIDs could not be found in the kept bytes (the data set is
// then stored as sent; the cache and intake look deeper).
func (s *sniffer) check(ts, sopClass, sopInstance string) string {
	b := s.buf
	if ts == DeflatedExplicitVRLittleEndian {
		r := flate.NewReader(bytes.NewReader(b))
		out, _ := io.ReadAll(io.LimitReader(r, sniffLen)) // a truncated stream is expected
		b = out
	}
	class, inst, ok := findSOPUIDs(b, ts != ImplicitVRLittleEndian)
	if !ok {
		return ""
	}
	if class != sopClass {
		return fmt.Sprintf("data set SOP Class UID %s differs from the request's %s", class, sopClass)
	}
	if inst != sopInstance {
		return fmt.Sprintf("data set SOP Instance UID (hash %s) differs from the request's (hash %s)", HashUID(inst), HashUID(sopInstance))
	}
	return ""
}

// findSOPUIDs walks top-level elements up to (0008,0018) and returns SOP
// Class UID (0008,0016) and SOP Instance UID (0008,0018). ok is false when
// the walk cannot get there within b.
func findSOPUIDs(b []byte, explicit bool) (class, inst string, ok bool) {
	for len(b) >= 8 {
		group, elem := binary.LittleEndian.Uint16(b), binary.LittleEndian.Uint16(b[2:])
		tag := uint32(group)<<16 | uint32(elem)
		if tag > 0x00080018 {
			// Past both: a data set without them does not match.
			return class, inst, true
		}
		var n uint32
		hl := 8
		if explicit {
			vr := string(b[4:6])
			switch vr {
			case "OB", "OW", "OF", "SQ", "UT", "UN", "UC", "UR", "OD", "OL", "OV", "SV", "UV":
				if len(b) < 12 {
					return "", "", false
				}
				n, hl = binary.LittleEndian.Uint32(b[8:]), 12
			default:
				n = uint32(binary.LittleEndian.Uint16(b[6:]))
			}
		} else {
			n = binary.LittleEndian.Uint32(b[4:])
		}
		if n == 0xFFFFFFFF || uint64(n) > uint64(len(b)-hl) {
			return "", "", false
		}
		v := b[hl : hl+int(n)]
		switch tag {
		case 0x00080016:
			class = trimUID(v)
		case 0x00080018:
			return class, trimUID(v), true
		}
		b = b[hl+int(n):]
	}
	return "", "", false
}
