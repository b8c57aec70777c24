package bench

import (
	"bytes"
	"context"
	"flag"
	"os"
	"strings"
	"testing"

	"metsentry/runtime/ort"
)

func TestMain(m *testing.M) {
	MaybeChild()
	os.Exit(m.Run())
}

// TestRunSmall runs the whole bench on a small volume, PyTorch included, and
// checks the table: every row timed, int8 close to fp32 with the guard,
// PyTorch equal to ORT fp32 (the same network).
func TestRunSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("bench runs six processes")
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	get := Flags(fs)
	if err := fs.Parse([]string{"-testdata", "../testdata", "-lib", ort.DefaultLibraryPath(), "-dims", "16x24x64", "-runs", "1", "-threads", "1", "-patch", "48"}); err != nil {
		t.Fatal(err)
	}
	c, err := get()
	if err != nil {
		t.Fatal(err)
	}
	c.TmpDir = t.TempDir()
	var out bytes.Buffer
	rows, err := Run(context.Background(), c, &out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", out.String())
	if len(rows) != 7 {
		t.Fatalf("%d rows, want 7", len(rows))
	}
	for _, r := range rows {
		if r.Note != "" && strings.HasPrefix(r.Note, "not run") {
			t.Fatalf("%s: %s (the PyTorch row needs /usr/bin/python3 with torch)", r.Name, r.Note)
		}
		if len(r.TimesS) != 1 || r.PeakRSSKB <= 0 {
			t.Fatalf("%s: %+v", r.Name, r)
		}
	}
	if rows[1].MaxDiff > 0.2 || rows[1].MeanDiff > 0.02 {
		t.Errorf("guarded int8 differs from fp32 by up to %g, mean %g", rows[1].MaxDiff, rows[1].MeanDiff)
	}
	if rows[6].MaxDiff > 1e-4 {
		t.Errorf("PyTorch differs from ORT fp32 by %g: not the same network", rows[6].MaxDiff)
	}
}

func TestFlagsRejectBadDims(t *testing.T) {
	for _, d := range []string{"160x192", "axbxc", "4x8x8"} {
		fs := flag.NewFlagSet("bench", flag.ContinueOnError)
		get := Flags(fs)
		if err := fs.Parse([]string{"-dims", d}); err != nil {
			t.Fatal(err)
		}
		if _, err := get(); err == nil {
			t.Errorf("-dims %s accepted", d)
		}
	}
}
