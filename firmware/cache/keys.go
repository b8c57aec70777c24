package cache

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// KeyVersion is the first byte of every key this firmware writes. A later
// firmware that changes the key layout bumps it, so old and new keys can never
// be mistaken for one another while a migration runs.
const KeyVersion byte = 1

// Element type codes in an encoded key. Their numeric order is the order of
// keys holding different types at the same position.
const (
	keyString byte = 0x02
	keyUint   byte = 0x15
)

// errKey is wrapped by DecodeKey for every malformed key.
var errKey = errors.New("cache: malformed key")

// EncodeKey encodes a tuple of strings and uint64s into a key whose byte order
// is the tuple order: element by element, strings by bytes (a string sorts
// before any string it is a proper prefix of), uint64s by value, and a tuple
// before every longer tuple that starts with it. EncodeKey(a...) is a prefix
// of EncodeKey(a..., b...), so a prefix scan over a cursor lists exactly the
// records below a parent (the instances of one series, the series of one
// study). Elements of any other type panic: keys are built by this package
// only, never from outside input.
func EncodeKey(parts ...any) []byte {
	b := make([]byte, 1, 64)
	b[0] = KeyVersion
	for _, p := range parts {
		b = appendKeyPart(b, p)
	}
	return b
}

func appendKeyPart(b []byte, p any) []byte {
	switch v := p.(type) {
	case string:
		b = append(b, keyString)
		for i := 0; i < len(v); i++ {
			if v[i] == 0 {
				b = append(b, 0x00, 0xff)
				continue
			}
			b = append(b, v[i])
		}
		return append(b, 0x00)
	case uint64:
		b = append(b, keyUint)
		return binary.BigEndian.AppendUint64(b, v)
	default:
		panic(fmt.Sprintf("cache: key element of type %T (only string and uint64 are allowed)", p))
	}
}

// DecodeKey is the inverse of EncodeKey. It returns an error wrapping errKey
// for a key of another version, an unknown element type, a truncated uint64
// or an unterminated or badly escaped string.
func DecodeKey(k []byte) ([]any, error) {
	if len(k) == 0 {
		return nil, fmt.Errorf("%w: empty (expected version byte %d)", errKey, KeyVersion)
	}
	if k[0] != KeyVersion {
		return nil, fmt.Errorf("%w: version %d (this firmware reads version %d)", errKey, k[0], KeyVersion)
	}
	var parts []any
	for i := 1; i < len(k); {
		switch k[i] {
		case keyString:
			i++
			var s []byte
			for {
				if i >= len(k) {
					return nil, fmt.Errorf("%w: unterminated string", errKey)
				}
				c := k[i]
				if c != 0 {
					s = append(s, c)
					i++
					continue
				}
				if i+1 < len(k) && k[i+1] == 0xff {
					s = append(s, 0)
					i += 2
					continue
				}
				i++
				break
			}
			parts = append(parts, string(s))
		case keyUint:
			if i+9 > len(k) {
				return nil, fmt.Errorf("%w: truncated uint64 at byte %d", errKey, i)
			}
			parts = append(parts, binary.BigEndian.Uint64(k[i+1:i+9]))
			i += 9
		default:
			return nil, fmt.Errorf("%w: unknown element type 0x%02x at byte %d", errKey, k[i], i)
		}
	}
	return parts, nil
}
