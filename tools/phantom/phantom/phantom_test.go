package phantom

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"metsentry/firmware/geom"
	"metsentry/firmware/testenv"
)

var (
	genOnce sync.Once
	genTest *Generator
	genErr  error
	cases   sync.Map // "split/seed" -> *Case
)

// testCase generates (split, seed) once per test binary.
func testCase(t *testing.T, seed uint64, split Split) *Case {
	t.Helper()
	key := fmt.Sprintf("%s/%d", split, seed)
	if c, ok := cases.Load(key); ok {
		return c.(*Case)
	}
	c, err := smallGenerator(t).Generate(seed, split)
	if err != nil {
		t.Fatal(err)
	}
	cases.Store(key, c)
	return c
}

// smallGenerator renders a 96×96×64 mm crop around the brain centre: the
// real anatomy and code paths at a size the race detector can afford.
func smallGenerator(t *testing.T) *Generator {
	t.Helper()
	dir := testenv.SharedData(t, "anatomy", "colin27")
	genOnce.Do(func() {
		genTest, genErr = NewGenerator(dir, Config{Dims: [3]int{96, 96, 64}, LesionFree: -1, GhostProb: -1})
	})
	if genErr != nil {
		t.Fatal(genErr)
	}
	return genTest
}

func TestLesionListMatchesLabels(t *testing.T) {
	total := 0
	for _, seed := range []uint64{3, 11} {
		c := testCase(t, seed, Train)
		total += len(c.Lesions)
		t.Run(c.ID, func(t *testing.T) { checkTruth(t, c) })
	}
	if total < 3 {
		t.Errorf("only %d lesions in two cases: the check did not exercise much", total)
	}
}

func checkTruth(t *testing.T, c *Case) {
	nx, ny := c.Grid.Dims[0], c.Grid.Dims[1]
	sp := c.Grid.Spacing()[0]
	byID := map[uint16][]geom.Vec3{}
	for idx, v := range c.Labels {
		if v != 0 {
			i, j, k := idx%nx, (idx/nx)%ny, idx/(nx*ny)
			byID[v] = append(byID[v], geom.Vec3{float64(i), float64(j), float64(k)})
		}
	}
	if len(byID) != len(c.Lesions) {
		t.Fatalf("label volume holds %d lesion ids, list has %d", len(byID), len(c.Lesions))
	}
	for _, l := range c.Lesions {
		vox := byID[uint16(l.ID)]
		if len(vox) == 0 || len(vox) != l.Voxels {
			t.Errorf("lesion %d: %d labelled voxels, list says %d", l.ID, len(vox), l.Voxels)
			continue
		}
		var cen geom.Vec3
		for _, v := range vox {
			cen = cen.Add(v)
		}
		cen = c.Grid.Affine.Apply(cen.Scale(1 / float64(len(vox))))
		if d := cen.Sub(geom.Vec3(l.CentreLPS)).Norm(); d > sp {
			t.Errorf("lesion %d (%s, %.1f mm): label centroid %.2f mm from the listed centre (want ≤ 1 voxel)", l.ID, l.Kind, l.LongestDiameterMM, d)
		}
		// longest extent of the labelled voxels, measured on their outline
		set := map[geom.Vec3]bool{}
		for _, v := range vox {
			set[v] = true
		}
		var edge []geom.Vec3
		for _, v := range vox {
			for _, d := range []geom.Vec3{{1, 0, 0}, {-1, 0, 0}, {0, 1, 0}, {0, -1, 0}, {0, 0, 1}, {0, 0, -1}} {
				if !set[v.Add(d)] {
					edge = append(edge, v)
					break
				}
			}
		}
		feret := 0.0
		for a := range edge {
			for b := a + 1; b < len(edge); b++ {
				feret = math.Max(feret, edge[a].Sub(edge[b]).Norm())
			}
		}
		measured := (feret + 1) * sp // centre-to-centre plus one voxel
		if d := math.Abs(measured - l.LongestDiameterMM); d > 1 {
			t.Errorf("lesion %d (%s, %d lobes): labels span %.2f mm, list says %.2f mm (want within 1 mm)", l.ID, l.Kind, l.Lobes, measured, l.LongestDiameterMM)
		}
		if l.LongestDiameterMM < 1.5 || l.LongestDiameterMM > 40.001 {
			t.Errorf("lesion %d: diameter %.2f mm outside 1.5..40", l.ID, l.LongestDiameterMM)
		}
		if l.Enhancement < 1.3 || l.Enhancement > 2.5 || l.Enhancement >= c.Params.VesselXWM {
			t.Errorf("lesion %d: enhancement %.2f× WM (want 1.3..2.5, below vessels at %.2f)", l.ID, l.Enhancement, c.Params.VesselXWM)
		}
	}
}

func digest(c *Case) [32]byte {
	h := sha256.New()
	binary.Write(h, binary.LittleEndian, c.Black)
	binary.Write(h, binary.LittleEndian, c.Bright)
	binary.Write(h, binary.LittleEndian, c.Labels)
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func TestDeterministicAndSplitsDiffer(t *testing.T) {
	g := smallGenerator(t)
	a := testCase(t, 3, Val)
	b, err := g.Generate(3, Val)
	if err != nil {
		t.Fatal(err)
	}
	if digest(a) != digest(b) {
		t.Error("the same split and seed gave different volumes")
	}
	other := testCase(t, 3, Train)
	if digest(a) == digest(other) {
		t.Error("seed 3 of val and of train are the same case")
	}
	if _, err := g.Generate(1, Split("holdout")); err == nil {
		t.Error("unknown split accepted")
	}
	if Train.salt() == Val.salt() || Val.salt() == Test.salt() || Train.salt() == Test.salt() {
		t.Error("split salts collide")
	}
}

func TestChannels(t *testing.T) {
	c := testCase(t, 11, Train)
	// lesions enhance in both channels: the brightest fifth of each lesion's
	// voxels (its rim, for ring lesions) lies well above white matter (1000)
	byID := map[uint16][2][]float64{}
	for i, v := range c.Labels {
		if v != 0 {
			e := byID[v]
			e[0] = append(e[0], float64(c.Bright[i]))
			e[1] = append(e[1], float64(c.Black[i]))
			byID[v] = e
		}
	}
	if len(byID) == 0 {
		t.Fatal("no lesion voxels")
	}
	for id, e := range byID {
		for ch, name := range []string{"bright", "black"} {
			v := append([]float64(nil), e[ch]...)
			sort.Float64s(v)
			top := v[len(v)*4/5:]
			m := 0.0
			for _, x := range top {
				m += x
			}
			m /= float64(len(top))
			if m < 1150 {
				t.Errorf("lesion %d: brightest fifth averages %.0f in %s-blood (want > 1150)", id, m, name)
			}
		}
	}
	// vessels are bright in bright-blood and suppressed in black-blood
	var brightOnly int
	for i := range c.Bright {
		if c.Labels[i] == 0 && c.Bright[i] > 1800 && c.Black[i] < 500 {
			brightOnly++
		}
	}
	if brightOnly < 50 {
		t.Errorf("%d voxels bright in bright-blood and dark in black-blood: vessels are not suppressed", brightOnly)
	}
}

func TestDICOMPassesDciodvfy(t *testing.T) {
	dciodvfy := testenv.Program(t, "dciodvfy")
	c := testCase(t, 11, Train)
	dir := t.TempDir()
	mid := c.Grid.Dims[2] / 2
	if err := WriteDICOMSlices(dir, c, mid-1, mid+2); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.dcm"))
	if len(files) != 6 {
		t.Fatalf("wrote %d files, want 3 slices × 2 series", len(files))
	}
	frames := map[string]bool{}
	for _, f := range files {
		out, _ := exec.Command(dciodvfy, f).CombinedOutput()
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "Error") {
				t.Errorf("%s: %s", filepath.Base(f), sc.Text())
			}
		}
		if !bytes.Contains(out, []byte("MRImage")) {
			t.Errorf("%s: dciodvfy did not recognise an MR image:\n%s", f, out)
		}
		d, err := dicom.ParseFile(f, nil)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		get := func(tg tag.Tag) string {
			e, err := d.FindElementByTag(tg)
			if err != nil {
				t.Fatalf("%s: %v missing", f, tg)
			}
			return strings.Join(e.Value.GetValue().([]string), `\`)
		}
		frames[get(tag.FrameOfReferenceUID)] = true
		if get(tag.MRAcquisitionType) != "3D" || get(tag.ContrastBolusAgent) == "" {
			t.Errorf("%s: not a 3D post-contrast header", f)
		}
		if get(tag.PatientName) == "" || !strings.HasPrefix(get(tag.PatientName), "PHANTOM^") {
			t.Errorf("%s: patient name %q is not the made-up one", f, get(tag.PatientName))
		}
	}
	if len(frames) != 1 {
		t.Errorf("%d frames of reference across the two series, want 1", len(frames))
	}
	// pixel values come back through RescaleSlope
	f := filepath.Join(dir, "s702", fmt.Sprintf("%04d.dcm", mid+1))
	if _, err := os.Stat(f); err != nil {
		t.Fatalf("expected slice file: %v", err)
	}
	d, err := dicom.ParseFile(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	pe, _ := d.FindElementByTag(tag.PixelData)
	fr := pe.Value.GetValue().(dicom.PixelDataInfo).Frames[0].NativeData
	se, _ := d.FindElementByTag(tag.RescaleSlope)
	var slope float64
	if _, err := fmt.Sscan(se.Value.GetValue().([]string)[0], &slope); err != nil {
		t.Fatal(err)
	}
	nx, ny := c.Grid.Dims[0], c.Grid.Dims[1]
	k := mid
	for _, idx := range []int{0, nx*ny/2 + nx/2, nx*ny - 1} {
		px, err := fr.GetPixel(idx%nx, idx/nx)
		if err != nil {
			t.Fatal(err)
		}
		got := float64(px[0]) * slope
		want := float64(c.Bright[nx*ny*k+idx])
		if math.Abs(got-want) > slope/2+1e-6 {
			t.Errorf("pixel %d: %.2f after rescale, volume has %.2f", idx, got, want)
		}
	}
}
