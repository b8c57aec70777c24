package analyze

import (
	"context"
	"fmt"
	"time"

	"metsentry/firmware/cache"
	"metsentry/firmware/detect"
	"metsentry/firmware/report"
)

// DefaultSeriesNumber is the first result series number (SEG; SR and SC
// follow): high enough to sort after a scanner's own series.
const DefaultSeriesNumber = 9001

// Analyzer turns ready jobs into result files.
type Analyzer struct {
	Model     *Model
	Equipment report.Equipment
	// SeriesNumber is the SEG's series number (SR +1, SC +2); 0 means
	// DefaultSeriesNumber.
	SeriesNumber int
	// Now stamps the results (default time.Now).
	Now func() time.Time
}

// Result is one job's outcome.
type Result struct {
	Mode    Mode
	Lesions []detect.Lesion
	Params  detect.Params
	Files   report.Files
	IDs     report.IDs
	// Seconds spent loading the series, in the model chain, and writing the
	// results.
	LoadSeconds, DetectSeconds, ReportSeconds float64
}

// Run loads the job's series from the store, detects lesions and writes the
// results into dir (report.Write: SEG when there are lesions, SR, SC).
func (a *Analyzer) Run(ctx context.Context, store *cache.Store, job cache.Job, dir string) (*Result, error) {
	t0 := time.Now()
	st, err := Load(store, job)
	if err != nil {
		return nil, err
	}
	t1 := time.Now()
	res, err := a.Analyze(ctx, st, dir)
	if err != nil {
		return nil, err
	}
	res.LoadSeconds = t1.Sub(t0).Seconds()
	return res, nil
}

// Analyze runs the chain on a loaded study and writes its results into dir.
func (a *Analyzer) Analyze(ctx context.Context, st *Study, dir string) (*Result, error) {
	if a.Model == nil || a.Model.Manifest == nil || a.Model.Engine == nil {
		return nil, fmt.Errorf("analyze: no model (expected a manifest and an engine)")
	}
	t0 := time.Now()
	f, err := a.Model.Detect(ctx, st.Black, st.Bright)
	if err != nil {
		return nil, err
	}
	t1 := time.Now()
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	sn := a.SeriesNumber
	if sn == 0 {
		sn = DefaultSeriesNumber
	}
	m := a.Model.Manifest
	in := &report.Input{
		Source: st.Source, Lesions: f.Lesions, Labels: f.Labels, Image: st.Bright.Data,
		Equipment: a.Equipment, Algorithm: report.Algorithm{Name: m.Name, Version: m.Version},
		Time: now(), SeriesNumber: sn, Mode: st.Mode.Describe(),
	}
	// At most a summary and one image per lesion (report.SCImages).
	ids := IDsFor(st.StudyInstanceUID, ModelIdentity(m), len(f.Lesions), 1+len(f.Lesions))
	files, err := report.Write(dir, in, ids)
	if err != nil {
		return nil, fmt.Errorf("analyze: %w", err)
	}
	return &Result{Mode: st.Mode, Lesions: f.Lesions, Params: f.Params, Files: files, IDs: ids,
		DetectSeconds: t1.Sub(t0).Seconds(), ReportSeconds: time.Since(t1).Seconds()}, nil
}
