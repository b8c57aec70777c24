package dcmguard

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"metsentry/firmware/testenv"
)

// TestSharedData walks and checks every Part 10 file of the shared scanner
// data (GE, Philips, Siemens, Hitachi, Hyperfine; classic and enhanced;
// every transfer syntax there): no real file may be refused, and the limits
// must leave room above what they reach.
func TestSharedData(t *testing.T) {
	root := testenv.SharedData(t, "dicom")
	var n int
	var most Result
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".txt", ".md", ".nii", ".gz", ".json", ".bval", ".bvec":
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fi, _ := f.Stat()
		var pre [132]byte
		if _, err := f.ReadAt(pre[:], 0); err != nil || string(pre[128:]) != "DICM" {
			return nil // not Part 10 (a reference file)
		}
		n++
		rel, _ := filepath.Rel(root, p)
		_, res, err := Check(f, fi.Size(), Options{})
		if err != nil {
			t.Errorf("%s: %v", rel, err)
		}
		most.Elements = max(most.Elements, res.Elements)
		most.Depth = max(most.Depth, res.Depth)
		most.Items = max(most.Items, res.Items)
		most.Bytes = max(most.Bytes, res.Bytes)
		return nil
	})
	if n < 400 {
		t.Fatalf("only %d Part 10 files under %s", n, root)
	}
	t.Logf("%d files; most elements %d, depth %d, items in one sequence %d, data set bytes %d", n, most.Elements, most.Depth, most.Items, most.Bytes)
	lim := DefaultLimits
	if most.Elements*10 > lim.MaxElements || most.Depth*2 > lim.MaxDepth || most.Items*10 > lim.MaxItems {
		t.Errorf("real data reaches %d elements, depth %d, %d items: the limits %+v leave too little room", most.Elements, most.Depth, most.Items, lim)
	}
}
