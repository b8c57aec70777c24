package report

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"metsentry/firmware/testenv"
)

// srValidate runs dsrdump (exit 0) and pixelmed's DicomSRValidator (no line
// starting "Error", root template TID 1500 recognised) on an SR file.
func srValidate(t *testing.T, path string) string {
	t.Helper()
	dsrdump := testenv.Program(t, "dsrdump")
	out, err := exec.Command(dsrdump, "-Ee", path).CombinedOutput()
	if err != nil {
		t.Errorf("dsrdump %s: %v\n%s", filepath.Base(path), err, out)
	}
	java := testenv.Program(t, "java")
	jar := testenv.File(t, "/usr/share/java/pixelmed.jar")
	// C1-only JIT and the serial collector halve the validator's CPU time
	// (it compiles large XSLT sheets once and exits).
	pm, err := exec.Command(java, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Djdk.xml.xpathExprGrpLimit=0", "-Djdk.xml.xpathExprOpLimit=0", "-Djdk.xml.xpathTotalOpLimit=0",
		"-cp", jar, "com.pixelmed.validate.DicomSRValidator", path).CombinedOutput()
	if err != nil {
		t.Errorf("pixelmed validator: %v\n%s", err, pm)
	}
	for _, line := range strings.Split(string(pm), "\n") {
		if strings.HasPrefix(line, "Error") {
			t.Errorf("pixelmed %s: %s", filepath.Base(path), line)
		}
	}
	if !strings.Contains(string(pm), "Found Root Template TID_1500") {
		t.Errorf("pixelmed did not find root template TID 1500:\n%s", pm)
	}
	return string(out) + string(pm)
}

func TestSR(t *testing.T) {
	p := loadPhilips(t)
	for _, tc := range []struct {
		name    string
		centres [][3]int
		radii   []float64
		want    []string
	}{
		{"three lesions", [][3]int{{128, 100, 80}, {60, 150, 120}, {200, 90, 40}}, []float64{6, 3, 1.2},
			[]string{"Lesion 1 (", "Lesion 3 (", "Neoplasm, Secondary", "Referenced Segment", "Long Axis", "Volume"}},
		{"negative study", nil, nil, []string{"Absent", "Negative study"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := testInput(t, p, tc.centres, tc.radii)
			ids := NewIDs(len(in.Lesions))
			data, err := SR(in, ids)
			if err != nil {
				t.Fatal(err)
			}
			path := writeTemp(t, "sr.dcm", data)
			dciodvfy(t, path)
			out := srValidate(t, path)
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("SR dump lacks %q", w)
				}
			}
			if testing.Verbose() {
				t.Log(out)
			}
		})
	}
}
