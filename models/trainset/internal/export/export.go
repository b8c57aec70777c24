// Package export turns phantom cases into training cases on the model grid.
package export

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"

	"metsentry/firmware/geom"
	"metsentry/firmware/volume"
	"metsentry/models"
	"metsentry/tools/phantom/phantom"
)

// Options says which cases to write where.
type Options struct {
	Anatomy string
	// Shared and Backgrounds, when Backgrounds is set, draw every case from
	// one of these real brains of the shared data folder with the
	// many-backgrounds generator (phantom.NewMultiGenerator, split by
	// brain: phantom.DefaultBrainSplits) instead of the Colin27 one.
	Shared      string
	Backgrounds []string
	Split       phantom.Split
	First       uint64
	Count       int
	Out         string
	Workers     int
}

// Lesion is one truth lesion as the training recipe reads it.
type Lesion struct {
	ID         int        `json:"id"`
	CentreVox  [3]float64 `json:"centre_vox"` // model grid (i, j, k)
	DiameterMM float64    `json:"diameter_mm"`
	Kind       string     `json:"kind"`
	// EnhancementXWM is the enhancing tissue's signal relative to white
	// matter: the recipe draws the faint ones more often.
	EnhancementXWM float64 `json:"enhancement_x_wm"`
}

// Meta is case.json.
type Meta struct {
	Case      string `json:"case"`
	Generator string `json:"generator"`
	// Background is the real brain the case was drawn from ("" for the
	// Colin27 generator): the recipe reports per brain.
	Background string   `json:"background,omitempty"`
	Dims       [3]int   `json:"dims"` // W, H, D
	Lesions    []Lesion `json:"lesions"`
}

// Run writes o.Count cases, a few at a time, printing one line per case to log.
func Run(ctx context.Context, o Options, log io.Writer) error {
	workers := o.Workers
	if workers <= 0 {
		workers = max(1, goruntime.GOMAXPROCS(0)/2)
	}
	gen, err := newGenerator(o)
	if err != nil {
		return err
	}
	seeds := make(chan uint64)
	errc := make(chan error, workers)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seed := range seeds {
				name, err := one(gen, o, seed)
				if err != nil {
					errc <- err
					return
				}
				mu.Lock()
				done++
				fmt.Fprintf(log, "trainset: %s (%d/%d)\n", name, done, o.Count)
				mu.Unlock()
			}
		}()
	}
	var ferr error
feed:
	for i := 0; i < o.Count; i++ {
		select {
		case seeds <- o.First + uint64(i):
		case ferr = <-errc:
			break feed
		case <-ctx.Done():
			ferr = ctx.Err()
			break feed
		}
	}
	close(seeds)
	wg.Wait()
	close(errc)
	if ferr != nil {
		return ferr
	}
	return <-errc
}

// generator is what both phantom generators offer.
type generator interface {
	Generate(seed uint64, split phantom.Split) (*phantom.Case, error)
}

func newGenerator(o Options) (generator, error) {
	cfg := phantom.Config{Workers: 2}
	if len(o.Backgrounds) == 0 {
		return phantom.NewGenerator(o.Anatomy, cfg)
	}
	// Only the brains of the split written are loaded (phantom.BrainsOf
	// refuses another split's): loading one costs seconds, and a train set
	// never reads a test brain.
	own, err := phantom.BrainsOf(strings.Join(o.Backgrounds, ","), o.Split)
	if err != nil {
		return nil, fmt.Errorf("trainset: %w", err)
	}
	return phantom.NewMultiGenerator(o.Shared, own, nil, cfg)
}

func one(gen generator, o Options, seed uint64) (string, error) {
	c, err := gen.Generate(seed, o.Split)
	if err != nil {
		return "", err
	}
	src := &volume.Source{FrameOfReferenceUID: "phantom"}
	black := &volume.Volume{Grid: c.Grid, Data: c.Black, Source: src}
	bright := &volume.Volume{Grid: c.Grid, Data: c.Bright, Source: src}
	m := models.Preprocessing()
	mi, err := volume.Prepare(black, bright, &m)
	if err != nil {
		return "", fmt.Errorf("trainset: case %s: %w", c.ID, err)
	}
	labels, err := labelsOnModelGrid(mi.Grid, c.Grid, c.Labels)
	if err != nil {
		return "", err
	}
	inv, err := mi.Grid.Affine.Inverse()
	if err != nil {
		return "", err
	}
	meta := Meta{Case: c.ID, Generator: c.Version, Background: c.Params.Background, Dims: mi.Grid.Dims}
	for _, l := range c.Lesions {
		v := inv.Apply(geom.Vec3(l.CentreLPS))
		meta.Lesions = append(meta.Lesions, Lesion{ID: l.ID, CentreVox: [3]float64(v), DiameterMM: l.LongestDiameterMM, Kind: l.Kind,
			EnhancementXWM: l.Enhancement})
	}
	dir := filepath.Join(o.Out, c.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := writeF16(filepath.Join(dir, "input.f16"), mi.Data); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "label.u8"), labels, 0o644); err != nil {
		return "", err
	}
	b, _ := json.MarshalIndent(meta, "", " ")
	// case.json last: its presence marks a complete case.
	return c.ID, os.WriteFile(filepath.Join(dir, "case.json"), b, 0o644)
}

// labelsOnModelGrid carries the phantom's label volume onto the model grid by
// nearest neighbour (both grids are 1 mm along LPS axes, so this is a crop).
// Each voxel keeps its lesion's ID (case.json's lesions[].id; the phantom
// draws at most 20 per case), so training can weigh lesions by size.
func labelsOnModelGrid(model, src geom.Grid, labels []uint16) ([]uint8, error) {
	inv, err := src.Affine.Inverse()
	if err != nil {
		return nil, err
	}
	m := inv.Mul(model.Affine)
	out := make([]uint8, model.Len())
	for k := 0; k < model.Dims[2]; k++ {
		for j := 0; j < model.Dims[1]; j++ {
			for i := 0; i < model.Dims[0]; i++ {
				p := m.Apply(geom.Vec3{float64(i), float64(j), float64(k)})
				si, sj, sk := int(math.Round(p[0])), int(math.Round(p[1])), int(math.Round(p[2]))
				if !src.Contains(si, sj, sk) {
					continue
				}
				id := labels[src.Index(si, sj, sk)]
				if id > 255 {
					return nil, fmt.Errorf("trainset: lesion ID %d does not fit label.u8", id)
				}
				out[model.Index(i, j, k)] = uint8(id)
			}
		}
	}
	return out, nil
}

func writeF16(path string, data []float32) error {
	buf := make([]byte, 2*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint16(buf[2*i:], f16(v))
	}
	return os.WriteFile(path, buf, 0o644)
}

// f16 converts to IEEE half precision, rounding to nearest even; values past
// the half range saturate to ±65504 (the inputs are z-scores, far inside it).
func f16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int((b>>23)&0xff) - 127 + 15
	mant := b & 0x7fffff
	switch {
	case exp >= 31:
		return sign | 0x7bff
	case exp <= 0:
		if exp < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint(14 - exp)
		half := uint32(1) << (shift - 1)
		r := mant >> shift
		if rem := mant & (1<<shift - 1); rem > half || (rem == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r)
	}
	r := uint16(exp)<<10 | uint16(mant>>13)
	if rem := mant & 0x1fff; rem > 0x1000 || (rem == 0x1000 && r&1 == 1) {
		r++
	}
	return sign | r
}
