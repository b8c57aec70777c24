package cache

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"metsentry/firmware/testenv"
)

// TestParseHeaderSharedData parses every DICOM file of the shared data (all
// vendors and transfer syntaxes there): the length check must not refuse a
// real file, and every file must yield its three UIDs.
func TestParseHeaderSharedData(t *testing.T) {
	root := testenv.SharedData(t, "dicom")
	n := 0
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
		if _, err := ParseHeader(f, fi.Size()); err != nil {
			rel, _ := filepath.Rel(root, p)
			t.Errorf("%s: %v", rel, err)
		}
		return nil
	})
	if n < 400 {
		t.Fatalf("only %d Part 10 files found under %s", n, root)
	}
	t.Logf("%d files parsed", n)
}
