package intake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"metsentry/firmware/cache"
	"metsentry/firmware/config"
	"metsentry/firmware/testenv"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time                         { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) After(d time.Duration) <-chan time.Time { return make(chan time.Time) }
func (c *fakeClock) Add(d time.Duration)                    { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// env is a cache and an intake on one fake clock.
type env struct {
	t     *testing.T
	clk   *fakeClock
	store *cache.Store
	in    *Intake
	cfg   Config
	// remote is the association put records its instances on.
	remote string
}

func newEnv(t *testing.T, mutate func(*config.Site)) *env {
	t.Helper()
	site, err := config.ParseSite("site.yaml", []byte("ae_title: METSENTRY\n"))
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(site)
	}
	cfg, err := ConfigFromSite(site)
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
	// Durability is the cache's own tests' business; these test decisions.
	s, err := cache.Open(t.TempDir(), cache.Options{Now: clk.Now, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &env{t: t, clk: clk, store: s, in: New(s, cfg, clk, nil), cfg: cfg}
}

// sharedFiles lists the DICOM files of a shared-data folder, sorted.
func sharedFiles(t testing.TB, rel ...string) []string {
	t.Helper()
	dir := testenv.SharedData(t, rel...)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if ext := filepath.Ext(e.Name()); e.IsDir() || ext == ".txt" || ext == ".md" {
			continue
		}
		out = append(out, filepath.Join(dir, e.Name()))
	}
	sort.Strings(out)
	return out
}

var parsed sync.Map // path -> dicom.Dataset of the source file, parsed once

// rewrite returns the bytes of a real DICOM file with some attributes
// replaced (or added), as a scanner would have written a different series.
// The parsed source is shared between calls, so replaced elements are new
// values in a copied element list, never edits of the shared ones.
func rewrite(t testing.TB, path string, set map[tag.Tag][]string) []byte {
	t.Helper()
	var src dicom.Dataset
	if v, ok := parsed.Load(path); ok {
		src = v.(dicom.Dataset)
	} else {
		ds, err := dicom.ParseFile(path, nil, dicom.SkipProcessingPixelDataValue())
		if err != nil {
			t.Fatalf("parse %s: %v", path, err)
		}
		parsed.Store(path, ds)
		src = ds
	}
	ds := dicom.Dataset{Elements: make([]*dicom.Element, 0, len(src.Elements)+len(set))}
	done := map[tag.Tag]bool{}
	for _, e := range src.Elements {
		vals, ok := set[e.Tag]
		if !ok {
			ds.Elements = append(ds.Elements, e)
			continue
		}
		v, err := dicom.NewValue(vals)
		if err != nil {
			t.Fatal(err)
		}
		ne := *e
		ne.Value, ne.ValueLength = v, 0
		ds.Elements = append(ds.Elements, &ne)
		done[e.Tag] = true
	}
	for tg, vals := range set {
		if done[tg] {
			continue
		}
		ne, err := dicom.NewElement(tg, vals)
		if err != nil {
			t.Fatalf("new element %v: %v", tg, err)
		}
		ds.Elements = append(ds.Elements, ne)
	}
	slices.SortStableFunc(ds.Elements, func(a, b *dicom.Element) int {
		if a.Tag.Group != b.Tag.Group {
			return int(a.Tag.Group) - int(b.Tag.Group)
		}
		return int(a.Tag.Element) - int(b.Tag.Element)
	})
	var buf bytes.Buffer
	if err := dicom.Write(&buf, ds, dicom.SkipVRVerification(), dicom.SkipValueTypeVerification()); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return buf.Bytes()
}

// seriesSpec describes a synthetic series made from real slices.
type seriesSpec struct {
	src         []string // source files, one instance each
	study       string
	uid         string // series UID; also seeds SOP UIDs
	number      int
	description string
	imageType   string // e.g. ORIGINAL\PRIMARY\M\NORM
	acq         string // MRAcquisitionType
	contrast    string // ContrastBolusAgent ("" = none)
	frameOfRef  string // "" = keep the source's
	extra       map[tag.Tag][]string
	sopBase     int // added to the instance number in SOP UIDs (two sets in one series)
}

func (sp seriesSpec) file(t testing.TB, i int) []byte {
	set := map[tag.Tag][]string{
		tag.StudyInstanceUID:           {sp.study},
		tag.SeriesInstanceUID:          {sp.uid},
		tag.SOPInstanceUID:             {fmt.Sprintf("%s.%d", sp.uid, sp.sopBase+i+1)},
		tag.MediaStorageSOPInstanceUID: {fmt.Sprintf("%s.%d", sp.uid, sp.sopBase+i+1)},
		tag.SeriesNumber:               {fmt.Sprint(sp.number)},
		tag.SeriesDescription:          {sp.description},
		tag.ImageType:                  splitBackslash(sp.imageType),
		tag.MRAcquisitionType:          {sp.acq},
		tag.ContrastBolusAgent:         {sp.contrast},
	}
	if sp.frameOfRef != "" {
		set[tag.FrameOfReferenceUID] = []string{sp.frameOfRef}
	}
	for k, v := range sp.extra {
		set[k] = v
	}
	return rewrite(t, sp.src[i], set)
}

func splitBackslash(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '\\' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

// send stores instances [from, to) of a series, one second apart.
func (e *env) send(sp seriesSpec, from, to int) {
	e.t.Helper()
	for i := from; i < to; i++ {
		e.put(sp.file(e.t, i))
		e.clk.Add(time.Second)
	}
}

func (e *env) put(data []byte) {
	e.t.Helper()
	f, err := e.store.CreateTemp()
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.PutInstance(context.Background(), f, cache.Received{Size: int64(len(data)), SHA256: sha256.Sum256(data), Remote: e.remote}); err != nil {
		e.t.Fatalf("PutInstance: %v", err)
	}
}

func (e *env) evaluate() Result {
	e.t.Helper()
	r, err := e.in.Evaluate()
	if err != nil {
		e.t.Fatalf("Evaluate: %v", err)
	}
	return r
}

// jobs returns every job.
func (e *env) jobs() []cache.Job {
	var out []cache.Job
	e.store.View(func(tx *cache.Tx) error {
		return tx.Jobs(func(j cache.Job) error { out = append(out, j); return nil })
	})
	return out
}

// audit returns the messages of audit events of a kind ("" = all).
func (e *env) audit(kind string) []string {
	var out []string
	e.store.View(func(tx *cache.Tx) error {
		return tx.AuditEvents(0, func(a cache.AuditEvent) error {
			if kind == "" || a.Kind == kind {
				out = append(out, a.Msg)
			}
			return nil
		})
	})
	return out
}
