package cache

import (
	"bytes"
	"cmp"
	"math/rand/v2"
	"testing"

	gcmp "github.com/google/go-cmp/cmp"
)

func compareTuples(a, b []any) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		switch x := a[i].(type) {
		case string:
			y, ok := b[i].(string)
			if !ok {
				return -1 // strings (0x02) sort before uints (0x15)
			}
			if c := cmp.Compare(x, y); c != 0 {
				return c
			}
		case uint64:
			y, ok := b[i].(uint64)
			if !ok {
				return 1
			}
			if c := cmp.Compare(x, y); c != 0 {
				return c
			}
		}
	}
	return cmp.Compare(len(a), len(b))
}

func randTuple(r *rand.Rand) []any {
	n := r.IntN(4)
	out := make([]any, n)
	alphabet := []byte{0x00, 0x01, 0xff, 'a', 'b', '.', '1', '2'}
	for i := range out {
		if r.IntN(3) == 0 {
			out[i] = []uint64{0, 1, 255, 256, 1 << 40, ^uint64(0), r.Uint64()}[r.IntN(7)]
			continue
		}
		s := make([]byte, r.IntN(6))
		for j := range s {
			s[j] = alphabet[r.IntN(len(alphabet))]
		}
		out[i] = string(s)
	}
	return out
}

// TestKeyProperties checks, on random tuples rich in 0x00 and 0xff bytes,
// that decoding inverts encoding, that byte order is tuple order, and that a
// tuple's key is a prefix of the key of every longer tuple starting with it.
func TestKeyProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		a, b := randTuple(r), randTuple(r)
		ka, kb := EncodeKey(a...), EncodeKey(b...)
		got, err := DecodeKey(ka)
		if err != nil {
			t.Fatalf("DecodeKey(EncodeKey(%q)): %v", a, err)
		}
		if len(a) == 0 {
			a = nil
		}
		if d := gcmp.Diff(a, got); d != "" {
			t.Fatalf("round trip of %q (-want +got):\n%s", a, d)
		}
		if want, gotc := compareTuples(a, b), bytes.Compare(ka, kb); want != gotc {
			t.Fatalf("order of %q vs %q: tuples %d, keys %d", a, b, want, gotc)
		}
		ab := append(append([]any{}, a...), b...)
		if !bytes.HasPrefix(EncodeKey(ab...), ka) {
			t.Fatalf("key of %q is not a prefix of the key of %q", a, ab)
		}
	}
}

func TestDecodeKeyErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  []byte
	}{
		{"empty", nil},
		{"other version", []byte{2, keyString, 'a', 0}},
		{"unknown type", []byte{KeyVersion, 0x07}},
		{"unterminated string", []byte{KeyVersion, keyString, 'a'}},
		{"truncated uint", []byte{KeyVersion, keyUint, 0, 0, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeKey(tc.key); err == nil {
				t.Fatalf("DecodeKey(%x) = nil error, want one", tc.key)
			}
		})
	}
}

// FuzzDecodeKey: any bytes either fail to decode or decode to a tuple whose
// encoding is the same bytes (one canonical key per tuple).
func FuzzDecodeKey(f *testing.F) {
	f.Add(EncodeKey("1.2.3", "4.5", uint64(7)))
	f.Add([]byte{KeyVersion, keyString, 0, 0xff, 0})
	f.Add([]byte{KeyVersion, keyUint, 1, 2, 3})
	f.Fuzz(func(t *testing.T, k []byte) {
		parts, err := DecodeKey(k)
		if err != nil {
			return
		}
		if re := EncodeKey(parts...); !bytes.Equal(re, k) {
			t.Fatalf("DecodeKey(%x) = %q re-encodes to %x", k, parts, re)
		}
	})
}

// FuzzKeyOrder: for any two string pairs, key order equals tuple order.
func FuzzKeyOrder(f *testing.F) {
	f.Add("1.2", "3", "1.2\x00", "")
	f.Fuzz(func(t *testing.T, a1, a2, b1, b2 string) {
		a, b := []any{a1, a2}, []any{b1, b2}
		if want, got := compareTuples(a, b), bytes.Compare(EncodeKey(a...), EncodeKey(b...)); want != got {
			t.Fatalf("order of %q vs %q: tuples %d, keys %d", a, b, want, got)
		}
		back, err := DecodeKey(EncodeKey(a...))
		if err != nil || gcmp.Diff(a, back) != "" {
			t.Fatalf("round trip of %q: %q, %v", a, back, err)
		}
	})
}
