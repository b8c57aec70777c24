package dcmguard_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"testing"

	"metsentry/firmware/dcmguard"
	"metsentry/firmware/dcmguard/dcmguardtest"
)

var syntaxes = []struct {
	name, ts string
}{
	{"implicit", dcmguardtest.ImplicitVRLittleEndian},
	{"explicit", dcmguardtest.ExplicitVRLittleEndian},
	{"deflated", dcmguardtest.DeflatedExplicitVRLittleEndian},
}

// refusal checks err is an *Error of kind k whose reason holds want.
func refusal(t *testing.T, err error, k dcmguard.Kind, want string) {
	t.Helper()
	var ge *dcmguard.Error
	if !errors.As(err, &ge) {
		t.Fatalf("err = %v, want a *dcmguard.Error", err)
	}
	if ge.Kind != k || !strings.Contains(ge.Reason, want) {
		t.Fatalf("refusal %s %q, want %s containing %q", ge.Kind, ge.Reason, k, want)
	}
}

// TestWalkDeepNesting: sequences nested without end (what crashed the SCP
// with a stack overflow) are refused at the depth limit, in every syntax,
// with little memory; nesting at the limit is accepted.
func TestWalkDeepNesting(t *testing.T) {
	for _, sx := range syntaxes {
		for _, tc := range []struct {
			name  string
			depth int
			ok    bool
		}{
			{"at the limit", dcmguard.DefaultLimits.MaxDepth, true},
			{"one deeper", dcmguard.DefaultLimits.MaxDepth + 1, false},
			{"hostile 400000 levels", 400_000, false},
		} {
			t.Run(sx.name+"/"+tc.name, func(t *testing.T) {
				im := dcmguardtest.DefaultImage(1)
				im.Nested = tc.depth
				b := im.File(sx.ts)
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				_, res, err := dcmguard.Check(bytes.NewReader(b), int64(len(b)), dcmguard.Options{})
				runtime.ReadMemStats(&after)
				if tc.ok {
					if err != nil || res.Depth != tc.depth {
						t.Fatalf("err %v depth %d, want nil and %d", err, res.Depth, tc.depth)
					}
					return
				}
				refusal(t, err, dcmguard.Malformed, "nested deeper than 16 levels")
				if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
					t.Errorf("refusing %d bytes allocated %d KiB", len(b), grew>>10)
				}
			})
		}
	}
}

// TestWalkLimits: each limit refuses what exceeds it before reading it.
func TestWalkLimits(t *testing.T) {
	lim := dcmguard.DefaultLimits
	meta := func(ds []byte) []byte {
		return dcmguardtest.Part10(dcmguardtest.ExplicitVRLittleEndian, dcmguardtest.MRImageStorage, "1.2.3", ds)
	}
	elem := func(vr string, n uint32) []byte {
		b := []byte{0x09, 0x00, 0x10, 0x10}
		b = append(b, vr...)
		b = append(b, 0, 0)
		return binary.LittleEndian.AppendUint32(b, n)
	}
	for _, tc := range []struct {
		name string
		file []byte
		lim  func(*dcmguard.Limits)
		want string
	}{
		{"element over MaxElementBytes", meta(elem("OB", 0xFFFFFFF0)), nil, "more than the 64 MiB limit"},
		{"element past the end", meta(append(elem("OB", 1000), make([]byte, 10)...)), nil, "truncated data set"},
		{"flood of elements", meta(dcmguardtest.Flood(1000, true)), func(l *dcmguard.Limits) { l.MaxElements = 1500 }, "more than 1500 elements"},
		{"items in one sequence", meta(dcmguardtest.Flood(1000, true)), func(l *dcmguard.Limits) { l.MaxItems = 999 }, "more than 999 items"},
		{"data set size", meta(dcmguardtest.Flood(1000, true)), func(l *dcmguard.Limits) { l.MaxBytes = 10000 }, "more than the 10000 bytes limit"},
		{"deflated data set size", dcmguardtest.Part10(dcmguardtest.DeflatedExplicitVRLittleEndian, dcmguardtest.MRImageStorage, "1.2.3", dcmguardtest.Flood(1000, true)),
			func(l *dcmguard.Limits) { l.MaxBytes = 10000 }, "larger than 10000 bytes"},
		{"meta group size", meta(nil), func(l *dcmguard.Limits) { l.MaxMetaBytes = 40 }, "file meta group larger than 40"},
		{"not Part 10", []byte("DICM"), nil, "no DICM prefix"},
		{"empty meta group length", append(append(make([]byte, 128), "DICM"...), 2, 0, 0, 0, 'U', 'S', 0, 0), nil, "(0002,0000) File Meta Information Group Length is US of 0 bytes"},
		{"undefined length text", meta(append([]byte{0x08, 0x00, 0x30, 0x10, 'U', 'T', 0, 0}, 0xFF, 0xFF, 0xFF, 0xFF)), nil, "undefined length"},
		{"sequence without its delimiter", meta(dcmguardtest.Nested(0x0008, 0x1140, 3, true)[:60]), nil, "truncated data set"},
		{"corrupt deflate stream", append(dcmguardtest.Meta(dcmguardtest.DeflatedExplicitVRLittleEndian, "1.2", "1.2.3"), 0xFF, 0xFF, 0xFF), nil, "deflated data set is corrupt"},
		{"data after zero padding", meta(append(make([]byte, 64), 1)), nil, "data after zero padding"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := lim
			if tc.lim != nil {
				tc.lim(&l)
			}
			_, err := dcmguard.Walk(bytes.NewReader(tc.file), int64(len(tc.file)), dcmguard.Options{Limits: l})
			refusal(t, err, dcmguard.Malformed, tc.want)
		})
	}
}

// TestWalkDelimiterLength: an item or sequence delimiter whose length is
// not 0 is refused. A DICOM library reading such a data set trusts the
// length: a 32-byte MPPS N-SET with one made it allocate 771 MB (found by
// FuzzParseStep).
func TestWalkDelimiterLength(t *testing.T) {
	le := binary.LittleEndian
	tagBytes := func(g, e uint16) []byte { return le.AppendUint16(le.AppendUint16(nil, g), e) }
	item := func(l uint32) []byte { return le.AppendUint32(tagBytes(0xFFFE, 0xE000), l) }
	delim := func(e uint16, l uint32) []byte { return le.AppendUint32(tagBytes(0xFFFE, e), l) }
	sq := append(tagBytes(0x0008, 0x1140), 'S', 'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF)
	ob := append(tagBytes(0x0009, 0x1010), 'O', 'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	meta := func(ds []byte) []byte {
		return dcmguardtest.Part10(dcmguardtest.ExplicitVRLittleEndian, dcmguardtest.MRImageStorage, "1.2.3", ds)
	}
	for _, tc := range []struct {
		name string
		ds   []byte
		want string
	}{
		{"item delimiter", cat(sq, item(0xFFFFFFFF), delim(0xE00D, 0x30303030), delim(0xE0DD, 0)), "(fffe,e00d) declares a length of 808464432"},
		{"sequence delimiter", cat(sq, item(0xFFFFFFFF), delim(0xE00D, 0), delim(0xE0DD, 7)), "(fffe,e0dd) declares a length of 7"},
		{"fragments' delimiter", cat(ob, item(0), delim(0xE0DD, 1)), "(fffe,e0dd) declares a length of 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := meta(tc.ds)
			_, err := dcmguard.Walk(bytes.NewReader(b), int64(len(b)), dcmguard.Options{})
			refusal(t, err, dcmguard.Malformed, tc.want)
		})
	}
	ok := meta(cat(sq, item(0xFFFFFFFF), delim(0xE00D, 0), delim(0xE0DD, 0), ob, item(0), delim(0xE0DD, 0)))
	if _, err := dcmguard.Walk(bytes.NewReader(ok), int64(len(ok)), dcmguard.Options{}); err != nil {
		t.Fatalf("delimiters of length 0 refused: %v", err)
	}
}

// TestWalkHeaderEnd: HeaderEnd marks the first top-level element it
// matches, and Inflated receives a deflated data set.
func TestWalkHeaderEnd(t *testing.T) {
	im := dcmguardtest.DefaultImage(1)
	ds := im.DataSet(dcmguardtest.ExplicitVRLittleEndian)
	for _, sx := range syntaxes[1:] {
		t.Run(sx.name, func(t *testing.T) {
			b := im.File(sx.ts)
			var inflated bytes.Buffer
			res, err := dcmguard.Walk(bytes.NewReader(b), int64(len(b)), dcmguard.Options{
				HeaderEnd: func(tg tagT) bool { return tg.Group >= 0x0028 },
				Inflated:  &inflated,
			})
			if err != nil {
				t.Fatal(err)
			}
			at := bytes.Index(ds, []byte{0x28, 0x00, 0x02, 0x00})
			if res.HeaderEnd != int64(at) || res.Bytes != int64(len(ds)) {
				t.Fatalf("HeaderEnd %d Bytes %d, want %d %d", res.HeaderEnd, res.Bytes, at, len(ds))
			}
			if !res.PixelData.Present || res.PixelData.Length != 512 {
				t.Fatalf("pixel data %+v", res.PixelData)
			}
			if sx.ts == dcmguardtest.DeflatedExplicitVRLittleEndian && !bytes.Equal(inflated.Bytes(), ds) {
				t.Fatalf("inflated %d bytes, want the %d of the data set", inflated.Len(), len(ds))
			}
		})
	}
}
