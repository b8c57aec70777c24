package report

import (
	"os/exec"
	"strings"
	"testing"

	"metsentry/firmware/testenv"
)

// TestWriteAndEntityConsistency writes all results for three lesions and
// checks with dcentvfy that source + SEG + SR + SC agree on patient and study.
func TestWriteAndEntityConsistency(t *testing.T) {
	p := loadPhilips(t)
	in := testInput(t, p, [][3]int{{128, 100, 80}, {60, 150, 120}, {200, 90, 40}}, []float64{6, 3, 1.2})
	files, err := Write(t.TempDir(), in, NewIDs(len(in.Lesions)))
	if err != nil {
		t.Fatal(err)
	}
	if files.SEG == "" || files.SR == "" || len(files.SC) != 4 {
		t.Fatalf("files %+v", files)
	}
	prog := testenv.Program(t, "dcentvfy")
	args := append(append([]string{}, p.files...), files.All()...)
	out, err := exec.Command(prog, args...).CombinedOutput()
	if err != nil {
		t.Errorf("dcentvfy: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "Error") || strings.Contains(strings.ToLower(line), "inconsistent") {
			t.Errorf("dcentvfy: %s", line)
		}
	}
	t.Logf("dcentvfy over %d files: %d warning lines", len(args), strings.Count(string(out), "Warning"))
}

func TestWriteNegativeHasNoSEG(t *testing.T) {
	p := loadPhilips(t)
	in := testInput(t, p, nil, nil)
	files, err := Write(t.TempDir(), in, NewIDs(0))
	if err != nil {
		t.Fatal(err)
	}
	if files.SEG != "" || files.SR == "" || len(files.SC) != 1 {
		t.Fatalf("negative study files %+v (want SR and one summary image, no SEG)", files)
	}
	if _, err := SEG(in, NewIDs(0)); err == nil {
		t.Fatal("SEG with no lesions did not fail")
	}
}
