package volume

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"

	"metsentry/firmware/geom"
	"metsentry/firmware/nifti"
	"metsentry/runtime/manifest"
)

// Assembling the 170-slice Philips series takes a while under -race; tests
// share one copy and must not modify it.
var (
	philipsOnce sync.Once
	philipsVol  *Volume
	philipsErr  error
	geOnce      sync.Once
	geVol       *Volume
	geErr       error
)

func philips(t *testing.T) *Volume {
	t.Helper()
	files := seriesFiles(t, "philips-mprage-sag3d")
	philipsOnce.Do(func() { philipsVol, philipsErr = Assemble(files, Options{}) })
	if philipsErr != nil {
		t.Fatal(philipsErr)
	}
	return philipsVol
}

func geOblique(t *testing.T) *Volume {
	t.Helper()
	files := seriesFiles(t, "ge-mprage-ax-oblique")
	geOnce.Do(func() { geVol, geErr = Assemble(files, Options{}) })
	if geErr != nil {
		t.Fatal(geErr)
	}
	return geVol
}

func testManifest(channels []string, norm manifest.Normalisation) *manifest.Manifest {
	return testManifestAt(channels, norm, 1)
}

// testManifestAt uses an isotropic model spacing of mm: tests whose point is
// not resolution use 2 mm to keep the race-detector run short.
func testManifestAt(channels []string, norm manifest.Normalisation, mm float64) *manifest.Manifest {
	return &manifest.Manifest{
		Name: "test", Version: "0", Channels: channels,
		SpacingMM:     [3]float64{mm, mm, mm},
		Normalisation: norm,
		Layout:        manifest.Layout{Mode: manifest.LayoutWhole, Multiple: 16},
	}
}

var pair = []string{manifest.ChannelBlack, manifest.ChannelBright}

// copyWithSource returns v with its own Source (same frame of reference),
// standing for the other series of a VISIBLE pair.
func copyWithSource(v *Volume, series string) *Volume {
	src := *v.Source
	src.SeriesInstanceUID = series
	return &Volume{Grid: v.Grid, Data: v.Data, Source: &src}
}

func maskedMoments(data []float32, mask []uint8) (mean, sd float64, n int) {
	var s, ss float64
	for i, m := range mask {
		if m != 0 {
			v := float64(data[i])
			s += v
			ss += v * v
			n++
		}
	}
	mean = s / float64(n)
	return mean, math.Sqrt(ss/float64(n) - mean*mean), n
}

// TestPrepareZScore checks the head grid: its normalisation and its crop
// of the head, before the cut to the brain (brainbox_test.go).
func TestPrepareZScore(t *testing.T) {
	bright := philips(t)
	black := copyWithSource(bright, "black")
	mi, err := PrepareHead(black, bright, testManifestAt(pair, manifest.Normalisation{Method: manifest.NormZScoreMask}, 2))
	if err != nil {
		t.Fatal(err)
	}
	g := mi.Grid
	for a := 0; a < 3; a++ {
		if g.Dims[a]%16 != 0 || g.Dims[a] < 64 || g.Dims[a] > 150 {
			t.Fatalf("model dims %v: each must be a multiple of 16 and fit a head at 2 mm", g.Dims)
		}
		for c := 0; c < 3; c++ {
			want := 0.0
			if a == c {
				want = 2
			}
			if g.Affine[a][c] != want {
				t.Fatalf("model affine %v is not a 2 mm LPS-aligned grid", g.Affine)
			}
		}
	}
	if mi.BlackResampled || mi.BlackZeroed || len(mi.Data) != 2*g.Len() {
		t.Fatalf("BlackResampled %v BlackZeroed %v len %d", mi.BlackResampled, mi.BlackZeroed, len(mi.Data))
	}
	for _, ch := range pair {
		mean, sd, n := maskedMoments(mi.Channel(ch), mi.HeadMask)
		if n < 60000 || math.Abs(mean) > 1e-3 || math.Abs(sd-1) > 1e-3 {
			t.Fatalf("%s: %d head voxels, mean %v sd %v; want a head, 0 and 1", ch, n, mean, sd)
		}
	}
	// The crop keeps the head down to MaxHeadHeightMM below its top: every
	// sampled source voxel above the head threshold within that height
	// lands inside the model grid.
	inv, err := g.Affine.Inverse()
	if err != nil {
		t.Fatal(err)
	}
	st := maskedStats(bright.Data, nil)
	thr := float32(HeadFraction * percentiles(bright.Data, nil, st, headPct)[0])
	sg := bright.Grid
	var head []geom.Vec3
	top := math.Inf(-1)
	for k := 0; k < sg.Dims[2]; k += 3 {
		for j := 0; j < sg.Dims[1]; j += 3 {
			for i := 0; i < sg.Dims[0]; i += 3 {
				if bright.Data[sg.Index(i, j, k)] > thr {
					p := sg.Affine.Apply(geom.Vec3{float64(i), float64(j), float64(k)})
					head = append(head, p)
					top = math.Max(top, p[2])
				}
			}
		}
	}
	outside, kept := 0, 0
	for _, p := range head {
		if p[2] < top-MaxHeadHeightMM+3 {
			continue
		}
		kept++
		m := inv.Apply(p)
		if !g.Contains(int(math.Round(m[0])), int(math.Round(m[1])), int(math.Round(m[2]))) {
			outside++
		}
	}
	if kept < len(head)/2 || outside > 20 {
		t.Fatalf("%d of %d sampled head voxels within %d mm of the top fall outside the cropped model grid", outside, kept, MaxHeadHeightMM)
	}
	if h := float64(g.Dims[2]) * 2; h > MaxHeadHeightMM+2*HeadMarginMM+2*16 {
		t.Fatalf("model grid is %g mm high; the crop should stop %d mm below the top of the head", h, MaxHeadHeightMM)
	}
	// Writing the model input as NIfTI gives a 2-volume image on the grid.
	p := filepath.Join(t.TempDir(), "in.nii")
	if err := mi.WriteNIfTI(p); err != nil {
		t.Fatal(err)
	}
	img, err := nifti.Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if img.Volumes != 2 || img.Grid.Dims != g.Dims || img.Data[g.Len()+12345] != mi.Data[g.Len()+12345] {
		t.Fatalf("NIfTI: %d volumes, dims %v", img.Volumes, img.Grid.Dims)
	}
}

func TestPreparePercentile(t *testing.T) {
	bright := philips(t)
	m := testManifestAt([]string{manifest.ChannelBright}, manifest.Normalisation{Method: manifest.NormPercentile, LowPct: 1, HighPct: 99}, 2)
	mi, err := Prepare(nil, bright, m)
	if err != nil {
		t.Fatal(err)
	}
	data := mi.Channel(manifest.ChannelBright)
	top, bottom, n := 0, 0, 0
	for i, v := range data {
		if v < 0 || v > 1 {
			t.Fatalf("voxel %d = %v outside [0, 1]", i, v)
		}
		if mi.HeadMask[i] != 0 {
			n++
			if v == 1 {
				top++
			}
			if v == 0 {
				bottom++
			}
		}
	}
	if f := float64(top) / float64(n); math.Abs(f-0.01) > 0.002 {
		t.Fatalf("%.4f of head voxels clipped at the top, want about 0.01", f)
	}
	if f := float64(bottom) / float64(n); math.Abs(f-0.01) > 0.002 {
		t.Fatalf("%.4f of head voxels clipped at the bottom, want about 0.01", f)
	}
}

func TestPrepareChannels(t *testing.T) {
	bright := philips(t)
	z := manifest.Normalisation{Method: manifest.NormZScoreMask}
	t.Run("bright only, model serves it", func(t *testing.T) {
		m := testManifestAt(pair, z, 2)
		m.BrightOnly = true
		mi, err := Prepare(nil, bright, m)
		if err != nil {
			t.Fatal(err)
		}
		if !mi.BlackZeroed {
			t.Fatal("BlackZeroed is false")
		}
		for _, v := range mi.Channel(manifest.ChannelBlack) {
			if v != 0 {
				t.Fatal("black channel is not zero")
			}
		}
	})
	t.Run("bright only, model needs black", func(t *testing.T) {
		if _, err := Prepare(nil, bright, testManifestAt(pair, z, 2)); ReasonOf(err) != ReasonMissingChannel {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("different frame of reference", func(t *testing.T) {
		black := copyWithSource(bright, "black")
		black.Source.FrameOfReferenceUID = "1.2.3"
		if _, err := Prepare(black, bright, testManifestAt(pair, z, 2)); ReasonOf(err) != ReasonFrameOfReference {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("black on another grid", func(t *testing.T) {
		// The black series covers the same anatomy on a grid that starts
		// 3 slices later and ends 3 slices earlier.
		g := bright.Grid
		plane := g.Dims[0] * g.Dims[1]
		black := copyWithSource(bright, "black")
		black.Grid.Dims[2] -= 6
		off := g.Affine.Apply(geom.Vec3{0, 0, 3})
		for r := 0; r < 3; r++ {
			black.Grid.Affine[r][3] = off[r]
		}
		black.Data = bright.Data[3*plane : (g.Dims[2]-3)*plane]
		mi, err := Prepare(black, bright, testManifestAt(pair, z, 2))
		if err != nil {
			t.Fatal(err)
		}
		if !mi.BlackResampled {
			t.Fatal("BlackResampled is false")
		}
		// Same anatomy at the same patient points: the normalised channels
		// are one linear map of each other inside the head.
		if r := correlation(mi.Channel(manifest.ChannelBlack), mi.Channel(manifest.ChannelBright), mi.HeadMask); r < 0.99 {
			t.Fatalf("black and bright correlate %.4f inside the head", r)
		}
	})
}

func correlation(a, b []float32, mask []uint8) float64 {
	var sa, sb, saa, sbb, sab, n float64
	for i, m := range mask {
		if m == 0 {
			continue
		}
		x, y := float64(a[i]), float64(b[i])
		sa += x
		sb += y
		saa += x * x
		sbb += y * y
		sab += x * y
		n++
	}
	cov := sab/n - sa/n*sb/n
	return cov / math.Sqrt((saa/n-sa*sa/n/n)*(sbb/n-sb*sb/n/n))
}

// TestRoundTripSphere paints a 3 mm sphere at a known patient position on the
// model grid and maps it back to the source grid: its centre there must be
// within 0.5 mm of the position, on the source slice that holds it.
func TestRoundTripSphere(t *testing.T) {
	for _, tc := range []struct {
		name string
		vol  func(*testing.T) *Volume
		at   geom.Vec3 // source voxel index of the sphere centre
	}{
		{"philips sagittal", philips, geom.Vec3{131.3, 97.6, 80.2}},
		{"ge oblique", geOblique, geom.Vec3{120.4, 140.7, 60.3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.vol(t)
			mi, err := Prepare(nil, src, testManifest([]string{manifest.ChannelBright}, manifest.Normalisation{Method: manifest.NormZScoreMask}))
			if err != nil {
				t.Fatal(err)
			}
			centre := src.Grid.Affine.Apply(tc.at)
			const radius = 1.5 // a 3 mm sphere
			g := mi.Grid
			mask := make([]uint8, g.Len())
			prob := make([]float32, g.Len())
			painted := 0
			var paintedSum geom.Vec3
			inv, err := g.Affine.Inverse()
			if err != nil {
				t.Fatal(err)
			}
			c := inv.Apply(centre)
			for k := int(c[2]) - 8; k <= int(c[2])+8; k++ {
				for j := int(c[1]) - 8; j <= int(c[1])+8; j++ {
					for i := int(c[0]) - 8; i <= int(c[0])+8; i++ {
						d := mi.VoxelToPatient(geom.Vec3{float64(i), float64(j), float64(k)}).Sub(centre).Norm()
						// A detector's probability falls off smoothly: 0.5
						// at the sphere's surface, over about 2 mm.
						prob[g.Index(i, j, k)] = float32(math.Max(0, math.Min(1, 0.5+(radius-d)/2)))
						if d <= radius {
							mask[g.Index(i, j, k)] = 1
							painted++
							paintedSum = paintedSum.Add(mi.VoxelToPatient(geom.Vec3{float64(i), float64(j), float64(k)}))
						}
					}
				}
			}
			if painted < 7 {
				t.Fatalf("sphere painted %d model voxels", painted)
			}
			back, err := mi.ToSource(mask)
			if err != nil {
				t.Fatal(err)
			}
			backProb, err := mi.ProbabilityToSource(prob, 0.5)
			if err != nil {
				t.Fatal(err)
			}
			wantSlice := int(math.Round(mi.PatientToSource(centre)[2]))
			if wantSlice != int(math.Round(tc.at[2])) {
				t.Fatalf("PatientToSource puts the centre on slice %d, want %d", wantSlice, int(math.Round(tc.at[2])))
			}
			for name, m := range map[string][]uint8{"nearest": back, "probability": backProb} {
				var sum geom.Vec3
				n := 0
				onSlice := false
				sg := src.Grid
				for idx, set := range m {
					if set == 0 {
						continue
					}
					i, j, k := idx%sg.Dims[0], idx/sg.Dims[0]%sg.Dims[1], idx/(sg.Dims[0]*sg.Dims[1])
					sum = sum.Add(sg.Affine.Apply(geom.Vec3{float64(i), float64(j), float64(k)}))
					n++
					if k == wantSlice {
						onSlice = true
					}
				}
				if n == 0 {
					t.Fatalf("%s: nothing mapped back", name)
				}
				got := sum.Scale(1 / float64(n))
				if d := got.Sub(centre).Norm(); d > 0.5 {
					t.Fatalf("%s: sphere maps back to %v (%d voxels), %.3f mm from %v", name, got, n, d, centre)
				}
				// The same sphere sampled straight on the source lattice.
				var trueSum geom.Vec3
				tn := 0
				sc := mi.PatientToSource(centre)
				for k := int(sc[2]) - 8; k <= int(sc[2])+8; k++ {
					for j := int(sc[1]) - 8; j <= int(sc[1])+8; j++ {
						for i := int(sc[0]) - 8; i <= int(sc[0])+8; i++ {
							if p := sg.Affine.Apply(geom.Vec3{float64(i), float64(j), float64(k)}); p.Sub(centre).Norm() <= radius {
								trueSum = trueSum.Add(p)
								tn++
							}
						}
					}
				}
				t.Logf("%s: sphere on the source lattice: %d voxels, centre %.3f mm off", name, tn, trueSum.Scale(1/float64(tn)).Sub(centre).Norm())
				t.Logf("%s: %d model voxels painted (their centre %.3f mm off), %d source voxels back, centre %.3f mm from the position", name, painted, paintedSum.Scale(1/float64(painted)).Sub(centre).Norm(), n, got.Sub(centre).Norm())
				if !onSlice {
					t.Fatalf("%s: nothing on source slice %d (%s)", name, wantSlice, src.Source.Slices[wantSlice].SOPInstanceUID)
				}
			}
			if _, err := mi.ToSource(mask[1:]); err == nil {
				t.Fatal("ToSource accepted a short mask")
			}
		})
	}
}

// TestResampleIdentity: sampling a volume on its own grid returns it, and a
// grid shifted by whole voxels returns the shifted values.
func TestResampleIdentity(t *testing.T) {
	g := geom.Grid{Dims: [3]int{7, 6, 5}, Affine: geom.FromDICOM(geom.Vec3{3, -4, 5}, geom.Vec3{0, 1, 0}, geom.Vec3{0, 0, -1}, [2]float64{0.8, 0.9}, geom.Vec3{-1.1, 0, 0})}
	data := make([]float32, g.Len())
	for i := range data {
		data[i] = float32(i*7%23) + 0.5
	}
	out := make([]float32, g.Len())
	inside, err := resample(out, g, g, data)
	if err != nil {
		t.Fatal(err)
	}
	if inside != g.Len() {
		t.Fatalf("%d of %d inside", inside, g.Len())
	}
	for i := range data {
		if math.Abs(float64(out[i]-data[i])) > 1e-4 {
			t.Fatalf("voxel %d: %v, want %v", i, out[i], data[i])
		}
	}
	sh := g
	sh.Affine = g.Affine.Mul(geom.Affine{{1, 0, 0, 2}, {0, 1, 0, 1}, {0, 0, 1, 0}})
	if _, err := resample(out, sh, g, data); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < 5; k++ {
		for j := 0; j < 6; j++ {
			for i := 0; i < 7; i++ {
				want := float32(0)
				if i+2 < 7 && j+1 < 6 {
					want = data[g.Index(i+2, j+1, k)]
				}
				if got := out[g.Index(i, j, k)]; math.Abs(float64(got-want)) > 1e-4 {
					t.Fatalf("(%d,%d,%d): %v, want %v", i, j, k, got, want)
				}
			}
		}
	}
}

// TestResampleLatticeCopyIsTrilinear: a model grid whose centres are source
// centres (a sagittal source at the model spacing, axes permuted and
// flipped, shifted by whole voxels) is copied, bit for bit what trilinear
// sampling gives there, with 0 outside.
func TestResampleLatticeCopyIsTrilinear(t *testing.T) {
	src := geom.Grid{Dims: [3]int{9, 8, 7}, Affine: geom.FromDICOM(geom.Vec3{3, -4, 5}, geom.Vec3{0, 1, 0}, geom.Vec3{0, 0, -1}, [2]float64{1, 1}, geom.Vec3{-1, 0, 0})}
	data := make([]float32, src.Len())
	for i := range data {
		data[i] = float32(i*7%23) + 0.25*float32(i%3)
	}
	lattice := 0 // shifts whose every row is copied
	for _, shift := range []geom.Vec3{{0, 0, 0}, {-3, 3, -1}, {-6, 1, -5}} {
		dst := geom.Grid{Dims: [3]int{5, 4, 3}}
		for a := 0; a < 3; a++ {
			dst.Affine[a][a] = 1
			dst.Affine[a][3] = src.Affine[a][3] + shift[a] - 2
		}
		m, err := voxelMap(dst, src)
		if err != nil {
			t.Fatal(err)
		}
		if !latticeMap(m) {
			t.Fatalf("shift %v: map %v not taken for a lattice map", shift, m)
		}
		out := make([]float32, dst.Len())
		if _, err := resample(out, dst, src, data); err != nil {
			t.Fatal(err)
		}
		s := sampler{data: data, nx: 9, ny: 8, nz: 7}
		copied, interior := 0, true
		for k := 0; k < 3; k++ {
			for j := 0; j < 4; j++ {
				for i := 0; i < 5; i++ {
					p := m.Apply(geom.Vec3{float64(i), float64(j), float64(k)})
					want, _ := s.at(p[0], p[1], p[2])
					if got := out[dst.Index(i, j, k)]; got != want {
						t.Fatalf("shift %v (%d,%d,%d): %v, trilinear %v", shift, i, j, k, got, want)
					}
					if want != 0 {
						copied++
					}
					interior = interior && p[0] >= 0 && p[1] >= 0 && p[2] >= 0 && p[0] < 8 && p[1] < 7 && p[2] < 6
				}
			}
		}
		if copied == 0 {
			t.Fatalf("shift %v: no voxel inside the source", shift)
		}
		lattice += map[bool]int{true: 1}[interior]
	}
	if lattice == 0 {
		t.Fatal("no shift kept the model grid inside the source: the copy went untested")
	}
	if latticeMap(geom.Affine{{0.8, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}}) || latticeMap(geom.Affine{{1, 0, 0, 0.5}, {0, 1, 0, 0}, {0, 0, 1, 0}}) {
		t.Fatal("a map off the lattice taken for one")
	}
}

func TestVolumeNIfTI(t *testing.T) {
	v := geOblique(t)
	p := filepath.Join(t.TempDir(), "ge.nii")
	if err := v.WriteNIfTI(p); err != nil {
		t.Fatal(err)
	}
	img, err := nifti.Read(p)
	if err != nil {
		t.Fatal(err)
	}
	back, err := FromNIfTI(img)
	if err != nil {
		t.Fatal(err)
	}
	if back.Grid.Dims != v.Grid.Dims {
		t.Fatalf("dims %v", back.Grid.Dims)
	}
	for r := 0; r < 3; r++ {
		for c := 0; c < 4; c++ {
			if math.Abs(back.Grid.Affine[r][c]-v.Grid.Affine[r][c]) > 1e-3 {
				t.Fatalf("affine %v, want %v", back.Grid.Affine, v.Grid.Affine)
			}
		}
	}
	for i := range v.Data {
		if back.Data[i] != v.Data[i] {
			t.Fatalf("voxel %d: %v, want %v", i, back.Data[i], v.Data[i])
		}
	}
}

// TestToSourceBruteForce compares ToSource, which only visits the source
// box a mask can reach, with a plain per-voxel nearest-neighbour lookup on an
// oblique synthetic volume.
func TestToSourceBruteForce(t *testing.T) {
	ca, sa := math.Cos(0.3), math.Sin(0.3)
	row, col := geom.Vec3{ca, sa, 0}, geom.Vec3{0, 0, -1}
	g := geom.Grid{Dims: [3]int{40, 36, 30}, Affine: geom.FromDICOM(geom.Vec3{-20, 10, 30}, row, col, [2]float64{0.9, 0.8}, row.Cross(col).Scale(1.1))}
	v := &Volume{Grid: g, Data: make([]float32, g.Len()), Source: &Source{FrameOfReferenceUID: "1"}}
	for k := 0; k < 30; k++ {
		for j := 0; j < 36; j++ {
			for i := 0; i < 40; i++ {
				d := geom.Vec3{float64(i) - 20, float64(j) - 18, float64(k) - 15}.Norm()
				if d < 12 {
					v.Data[g.Index(i, j, k)] = float32(100 + i%7)
				}
			}
		}
	}
	m := testManifestAt([]string{manifest.ChannelBright}, manifest.Normalisation{Method: manifest.NormZScoreMask}, 1.3)
	m.Layout.Multiple = 8
	mi, err := Prepare(nil, v, m)
	if err != nil {
		t.Fatal(err)
	}
	mask := make([]uint8, mi.Grid.Len())
	for i := range mask {
		if (i*2654435761)%997 == 0 {
			mask[i] = 1
		}
	}
	got, err := mi.ToSource(mask)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := mi.Grid.Affine.Inverse()
	if err != nil {
		t.Fatal(err)
	}
	toModel := inv.Mul(g.Affine) // source voxel → model voxel
	tie := false
	lookup := func(p geom.Vec3) bool {
		for a := 0; a < 3; a++ {
			if f := p[a] - math.Floor(p[a]); math.Abs(f-0.5) < 1e-9 {
				tie = true // halfway between two model voxels: either is right
			}
		}
		x, y, z := int(math.Floor(p[0]+0.5)), int(math.Floor(p[1]+0.5)), int(math.Floor(p[2]+0.5))
		return mi.Grid.Contains(x, y, z) && mask[mi.Grid.Index(x, y, z)] != 0
	}
	set := 0
	for k := 0; k < 30; k++ {
		for j := 0; j < 36; j++ {
			for i := 0; i < 40; i++ {
				tie = false
				n := 0
				for _, o := range [8][3]float64{{-1, -1, -1}, {1, -1, -1}, {-1, 1, -1}, {1, 1, -1}, {-1, -1, 1}, {1, -1, 1}, {-1, 1, 1}, {1, 1, 1}} {
					if lookup(toModel.Apply(geom.Vec3{float64(i) + o[0]/4, float64(j) + o[1]/4, float64(k) + o[2]/4})) {
						n++
					}
				}
				want := uint8(0)
				if n > 4 || (n == 4 && lookup(toModel.Apply(geom.Vec3{float64(i), float64(j), float64(k)}))) {
					want = 1
					set++
				}
				if got[g.Index(i, j, k)] != want && !tie {
					t.Fatalf("source voxel (%d,%d,%d): %d, want %d", i, j, k, got[g.Index(i, j, k)], want)
				}
			}
		}
	}
	if set < 20 {
		t.Fatalf("only %d source voxels set; the test mask is too sparse to mean anything", set)
	}
	empty, err := mi.ToSource(make([]uint8, mi.Grid.Len()))
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range empty {
		if x != 0 {
			t.Fatal("an empty mask mapped to a non-empty one")
		}
	}
}

// TestCoverageCountsCentresInside holds coverage's row intervals to mapping
// every head voxel's centre, on grids turned and flipped against each other.
func TestCoverageCountsCentresInside(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	model := geom.Grid{Dims: [3]int{23, 19, 17}, Affine: geom.Affine{{1, 0, 0, -11}, {0, 1, 0, -9}, {0, 0, 1, -8}}}
	mask := make([]uint8, model.Len())
	for i := range mask {
		if rng.Float64() < 0.7 {
			mask[i] = 1
		}
	}
	c, s := math.Cos(0.3), math.Sin(0.3)
	for _, g := range []geom.Grid{
		model,
		{Dims: [3]int{12, 14, 9}, Affine: geom.FromDICOM(geom.Vec3{-6, -7, 5}, geom.Vec3{1, 0, 0}, geom.Vec3{0, 1, 0}, [2]float64{0.9, 1.1}, geom.Vec3{0, 0, -1.2})},
		{Dims: [3]int{20, 16, 11}, Affine: geom.FromDICOM(geom.Vec3{-8, 6, -5}, geom.Vec3{c, s, 0}, geom.Vec3{0, 0, -1}, [2]float64{0.8, 1}, geom.Vec3{-s, c, 0})},
		{Dims: [3]int{5, 5, 5}, Affine: geom.Affine{{1, 0, 0, 40}, {0, 1, 0, 0}, {0, 0, 1, 0}}},
	} {
		m, err := voxelMap(model, g)
		if err != nil {
			t.Fatal(err)
		}
		in, tot := 0, 0
		for i, v := range mask {
			if v == 0 {
				continue
			}
			tot++
			x, y, z := i%model.Dims[0], i/model.Dims[0]%model.Dims[1], i/(model.Dims[0]*model.Dims[1])
			p := m.Apply(geom.Vec3{float64(x), float64(y), float64(z)})
			if p[0] >= -0.5 && p[1] >= -0.5 && p[2] >= -0.5 && p[0] <= float64(g.Dims[0])-0.5 && p[1] <= float64(g.Dims[1])-0.5 && p[2] <= float64(g.Dims[2])-0.5 {
				in++
			}
		}
		if got, want := coverage(mask, model, g), float64(in)/float64(tot); math.Abs(got-want) > 1e-12 {
			t.Fatalf("grid %v: coverage %v, every centre mapped gives %v", g.Dims, got, want)
		}
	}
}
