package report

import (
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
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"metsentry/firmware/detect"
	"metsentry/firmware/geom"
	"metsentry/firmware/testenv"
)

// philips is the real sagittal MPRAGE series (256×256×170), loaded once.
type philipsData struct {
	files  []string // sorted like src.Slices
	src    *Source
	image  []float32
	ref    detect.Reference
	refOK  bool
	loaded bool
	err    error
}

var (
	philipsOnce sync.Once
	philips     philipsData
)

func loadPhilips(t *testing.T) *philipsData {
	t.Helper()
	dir := testenv.SharedData(t, "dicom", "philips-mprage-sag3d")
	philipsOnce.Do(func() {
		names, err := filepath.Glob(filepath.Join(dir, "*.dcm"))
		if err != nil || len(names) == 0 {
			philips.err = err
			return
		}
		sort.Strings(names)
		var dss []dicom.Dataset
		byUID := map[string]string{}
		pixels := map[string][]float32{}
		for _, n := range names {
			ds, err := dicom.ParseFile(n, nil, dicom.SkipProcessingPixelDataValue())
			if err != nil {
				philips.err = err
				return
			}
			dss = append(dss, ds)
			uid := str(ds, tag.SOPInstanceUID)
			byUID[uid] = n
			pe, _ := ds.FindElementByTag(tag.PixelData)
			// Decoded here rather than by the library: its per-pixel reader
			// is slow under -race. The series is Explicit VR Little Endian,
			// 16 bits allocated.
			raw := dicom.MustGetPixelDataInfo(pe.Value).UnprocessedValueData
			px := make([]float32, len(raw)/2)
			for i := range px {
				px[i] = float32(binary.LittleEndian.Uint16(raw[2*i:]))
			}
			pixels[uid] = px
		}
		src, err := SourceFromDatasets(dss)
		if err != nil {
			philips.err = err
			return
		}
		philips.src = src
		for _, sl := range src.Slices {
			philips.files = append(philips.files, byUID[sl.SOPInstanceUID])
			philips.image = append(philips.image, pixels[sl.SOPInstanceUID]...)
		}
		philips.loaded = true
	})
	if !philips.loaded {
		t.Fatalf("loading %s: %v", dir, philips.err)
	}
	return &philips
}

func str(ds dicom.Dataset, t tag.Tag) string {
	e, err := ds.FindElementByTag(t)
	if err != nil {
		return ""
	}
	v, ok := e.Value.GetValue().([]string)
	if !ok || len(v) == 0 {
		return ""
	}
	return strings.TrimRight(strings.Join(v, `\`), " \x00")
}

// testInput puts spherical "lesions" into a probability map on the source
// grid (the model grid is the source grid here), runs detect on it and
// returns the report input.
func testInput(t *testing.T, p *philipsData, centres [][3]int, radii []float64) *Input {
	t.Helper()
	key := fmt.Sprint(centres, radii)
	inputsMu.Lock()
	defer inputsMu.Unlock()
	if in, ok := inputs[key]; ok {
		return in
	}
	g := p.src.Grid()
	prob := make([]float32, g.Len())
	for n, c := range centres {
		r := radii[n]
		ri := int(math.Ceil(r))
		for k := c[2] - ri; k <= c[2]+ri; k++ {
			for j := c[1] - ri; j <= c[1]+ri; j++ {
				for i := c[0] - ri; i <= c[0]+ri; i++ {
					d := math.Sqrt(float64((i-c[0])*(i-c[0]) + (j-c[1])*(j-c[1]) + (k-c[2])*(k-c[2])))
					if g.Contains(i, j, k) && d <= r {
						prob[g.Index(i, j, k)] = float32(0.95 - 0.3*d/max(r, 1))
					}
				}
			}
		}
	}
	if !p.refOK {
		p.ref, p.refOK = detect.ReferenceFromImage(p.image, g)
	}
	ref := p.ref
	ls, err := detect.Find(prob, g, detect.Params{Threshold: 0.5, MinComponentMM3: 1}, ref)
	if err != nil {
		t.Fatal(err)
	}
	// The model grid is the source grid here, so the labels map one to one
	// (detect's own tests cover NearestResampler).
	same := func(l []uint16, _, _ geom.Grid) ([]uint16, error) { return l, nil }
	lab, err := detect.SourceLabels(ls, g, g, same)
	if err != nil {
		t.Fatal(err)
	}
	in := &Input{
		Source: p.src, Lesions: ls, Labels: lab, Image: p.image,
		Equipment: Equipment{Manufacturer: "metsentry project", ModelName: "metsentry x86-devkit", SerialNumber: "TEST-0001",
			SoftwareVersion: "0.1.0-test", DeviceUID: "2.25.1234567890123456789"},
		Algorithm:    Algorithm{Name: "metsentry-unet", Version: "1.0.0"},
		Time:         time.Date(2026, 11, 26, 17, 30, 0, 0, time.UTC),
		SeriesNumber: 9001,
	}
	inputs[key] = in
	return in
}

// inputs memoises testInput: several tests share one set of lesions, and
// each detect pass over the 11-million-voxel grid is costly under -race.
var (
	inputsMu sync.Mutex
	inputs   = map[string]*Input{}
)

// validate runs dciodvfy on a file and fails on any "Error" line or a
// non-zero exit.
func dciodvfy(t *testing.T, path string) string {
	t.Helper()
	prog := testenv.Program(t, "dciodvfy")
	out, err := exec.Command(prog, "-new", path).CombinedOutput()
	if err != nil {
		t.Errorf("dciodvfy %s: %v\n%s", filepath.Base(path), err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "Error") {
			t.Errorf("dciodvfy %s: %s", filepath.Base(path), line)
		}
	}
	return string(out)
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func posKey(p geom.Vec3) string {
	var b [24]byte
	for i := 0; i < 3; i++ {
		binary.LittleEndian.PutUint64(b[i*8:], math.Float64bits(math.Round(p[i]*1000)/1000))
	}
	return string(b[:])
}

func parseF(t testing.TB, s string) float64 {
	t.Helper()
	var v float64
	if _, err := fmt.Sscan(strings.TrimSpace(s), &v); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return v
}
