package volume

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"metsentry/firmware/geom"
	"metsentry/runtime/manifest"
)

// writeSeries writes a copy of the Philips series as a new series of n
// slices into dir: the 170 real slices, then extra slices continuing the
// stack (copies of the last one moved one step further each), all with new
// series and instance UIDs. The files are real DICOM, so Assemble's whole
// data path (parse, decode, sort, check) runs on them.
func writeSeries(tb testing.TB, dir, seriesUID string, n int) []string {
	tb.Helper()
	src := seriesFiles(tb, "philips-mprage-sag3d")
	v0, err := readInstance(src[0])
	if err != nil {
		tb.Fatal(err)
	}
	v1, err := readInstance(src[1])
	if err != nil {
		tb.Fatal(err)
	}
	step := v1.frames[0].pos.Sub(v0.frames[0].pos)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	var out []string
	for i := 0; i < n; i++ {
		from := src[min(i, len(src)-1)]
		ds, err := dicom.ParseFile(from, nil, dicom.SkipProcessingPixelDataValue())
		if err != nil {
			tb.Fatal(err)
		}
		set := func(t tag.Tag, val []string) {
			e, err := ds.FindElementByTag(t)
			if err != nil {
				tb.Fatalf("%s: %v", from, err)
			}
			if e.Value, err = dicom.NewValue(val); err != nil {
				tb.Fatal(err)
			}
		}
		set(tSeriesUID, []string{seriesUID})
		set(tSOPInstance, []string{fmt.Sprintf("%s.%d", seriesUID, i+1)})
		if i >= len(src) {
			in, err := readInstance(from)
			if err != nil {
				tb.Fatal(err)
			}
			p := in.frames[0].pos.Add(step.Scale(float64(i - len(src) + 1)))
			set(tPosition, []string{fmt.Sprintf("%.6f", p[0]), fmt.Sprintf("%.6f", p[1]), fmt.Sprintf("%.6f", p[2])})
		}
		name := filepath.Join(dir, fmt.Sprintf("%04d.dcm", i+1))
		f, err := os.Create(name)
		if err != nil {
			tb.Fatal(err)
		}
		if err := dicom.Write(f, ds, dicom.SkipVRVerification()); err != nil {
			tb.Fatalf("write %s: %v", name, err)
		}
		if err := f.Close(); err != nil {
			tb.Fatal(err)
		}
		out = append(out, name)
	}
	return out
}

// BenchmarkPrepareVisiblePair assembles a black and a bright series of 176
// 256² slices from files, puts them on a 1 mm model grid and normalises them.
// Peak RSS: build the test binary and run it once under /usr/bin/time -v:
//
//	go test -c -o /tmp/volume.test ./firmware/volume
//	/usr/bin/time -v /tmp/volume.test -test.run '^$' -test.bench PrepareVisiblePair -test.benchtime 1x
func BenchmarkPrepareVisiblePair(b *testing.B) {
	dir := b.TempDir()
	black := writeSeries(b, filepath.Join(dir, "black"), "1.2.826.0.1.3680043.8.498.1", 176)
	bright := writeSeries(b, filepath.Join(dir, "bright"), "1.2.826.0.1.3680043.8.498.2", 176)
	m := testManifest(pair, manifest.Normalisation{Method: manifest.NormZScoreMask})
	runtime.GC()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		kv, err := Assemble(black, Options{})
		if err != nil {
			b.Fatal(err)
		}
		bv, err := Assemble(bright, Options{})
		if err != nil {
			b.Fatal(err)
		}
		mi, err := Prepare(kv, bv, m)
		if err != nil {
			b.Fatal(err)
		}
		if bv.Grid.Dims != [3]int{256, 256, 176} || mi.Grid.Len() == 0 {
			b.Fatalf("bright %v model %v", bv.Grid.Dims, mi.Grid.Dims)
		}
		if i == 0 {
			b.ReportMetric(float64(mi.Grid.Len())/1e6, "Mvox/channel")
		}
	}
	b.StopTimer()
	// Peak resident set of the whole process (setup included: it holds one
	// file at a time).
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "peakRSS-MiB")
	}
}

// TestSynthesisedSeries checks the benchmark's input: the written series
// assembles to 176 slices continuing the real stack.
func TestSynthesisedSeries(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("writes and assembles 176 files; runs in the normal (non-race, non-short) test run")
	}
	files := writeSeries(t, t.TempDir(), "1.2.826.0.1.3680043.8.498.3", 176)
	v, err := Assemble(files, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ref := philips(t)
	if v.Grid.Dims != [3]int{256, 256, 176} {
		t.Fatalf("dims %v", v.Grid.Dims)
	}
	for r := 0; r < 3; r++ {
		for c := 0; c < 4; c++ {
			if d := v.Grid.Affine[r][c] - ref.Grid.Affine[r][c]; d > 1e-3 || d < -1e-3 {
				t.Fatalf("affine %v, real series %v", v.Grid.Affine, ref.Grid.Affine)
			}
		}
	}
	n := ref.Grid.Len()
	for i := 0; i < n; i += 997 {
		if v.Data[i] != ref.Data[i] {
			t.Fatalf("voxel %d: %v, real %v", i, v.Data[i], ref.Data[i])
		}
	}
	if p := v.Grid.Affine.Apply(geom.Vec3{0, 0, 175}); p.Sub(v.Source.Slices[175].Position).Norm() > 1e-3 {
		t.Fatalf("last slice at %v, header %v", p, v.Source.Slices[175].Position)
	}
}
