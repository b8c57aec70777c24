// Command rescore fits the second stage of a MetNet manifest (output.rescore,
// see firmware/detect.Rescore) on phantom train studies:
//
//	go run ./models/rescore -model models/metnet/metnet-fp32.manifest.json \
//	    -trust models/trust -backgrounds all -n 60 -out models/metnet/rescore.json
//
// -from picks the first train seed: a network fine-tuned on seeds 0–59 is
// surer of those studies than of new ones, so its stage is better fitted on
// seeds it never saw (-from 60 -n 100).
//
// -backgrounds draws the train studies from the phantom's many real
// backgrounds (tools/phantom's multi generator, train split: splits are by
// brain, so no val or test brain is fitted on) instead of the classic
// Colin27 phantom: "all" for every train brain, or names separated by
// commas.
//
// Candidates that the brain gate would drop (fewer than half their voxels
// in the study's brain mask, firmware/detect.GateBrain) are left out of the
// fit unless -gated=false: whatever the stage scores them, the appliance
// never reports them, and fitting on them spends the weights on the skull
// base instead of the brain.
//
// -bright-only fits the stage for bright-only studies
// (output.rescore_bright_only): the black-blood series is withheld, as
// firmware/volume does for a study without one, and the stage weighs only
// the measurements that need no black-blood image
// (detect.BrightOnlyFeatures).
//
// Each train study goes through the appliance's path (firmware/volume.Prepare,
// runtime/model, whole pass, as tools/evaluate runs it); the probability map
// is cut at -candidate into components, and each is measured
// (detect.Candidates) and labelled a lesion when its core (the voxels at or
// above half its peak: what the stage's score is written over, so what the
// appliance would report) touches a phantom lesion: at a low candidate
// level a lesion's haze can join other tissue into one candidate, whose
// core may lie elsewhere (on 0.6.2's 60 train studies this changed one
// label of 15,353 against labelling by any voxel). The default candidate level, 0.00005, is far
// below the network's own operating point: low enough that nearly every
// lesion the network responds to at all is a candidate (MetNet 0.6.0: about
// 119 candidates a study on train seeds 60–159 of the classic phantom, 335 of
// them on lesions), and the measurements, not the network's confidence alone,
// tell the lesions from the rest. An L2-regularised logistic regression of
// label on measurements is written as a manifest Rescore; its accept level
// is chosen afterwards on the val split (tools/evaluate's FROC) and set by
// models/mkmanifest. With -hidden N the stage has a hidden layer of N tanh
// units between the measurements and the score (fitMLP), which can weigh a
// measurement differently for a small candidate than for a large one.
//
// -dump writes every candidate's measurements and label as CSV; -load fits
// on such a file instead of measuring the studies again (minutes instead of
// a quarter of an hour), for trying other fits on the same candidates.
package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"metsentry/firmware/analyze"
	"os"
	"slices"
	"strconv"
	"strings"

	"metsentry/firmware/detect"
	"metsentry/firmware/geom"
	"metsentry/firmware/volume"
	"metsentry/runtime/manifest"
	"metsentry/runtime/model"
	"metsentry/tools/evaluate/runner"
	"metsentry/tools/phantom/phantom"
)

func main() {
	modelPath := flag.String("model", "models/metnet/metnet-fp32.manifest.json", "signed model manifest")
	trust := flag.String("trust", "models/trust", "trusted keys")
	anatomy := flag.String("anatomy", "../shared/data/anatomy/colin27", "Colin27 folder for tools/phantom")
	backgrounds := flag.String("backgrounds", "", "draw the studies from the phantom's real brains of the train split: all, or names separated by commas (default: the classic Colin27 phantom)")
	shared := flag.String("shared", "../shared/data", "with -backgrounds: the shared data folder the brains are read from")
	gated := flag.Bool("gated", true, "leave out of the fit the candidates the brain gate drops")
	from := flag.Int("from", 0, "first train seed")
	n := flag.Int("n", 60, "train studies (seeds from..from+n-1)")
	candidate := flag.Float64("candidate", 0.00005, "probability threshold of candidate components")
	l2 := flag.Float64("l2", 0.3, "L2 penalty on the standardised weights")
	features := flag.String("features", "", "the measurements the stage weighs (firmware/detect.RescoreFeatures names; default: all, or with -bright-only those that need no black-blood image)")
	brightOnly := flag.Bool("bright-only", false, "fit the stage for bright-only studies: the black-blood series withheld")
	massVoxels := flag.Int("mass-voxels", 0, "the stage's mass rule (manifest.Rescore.MassVoxels): a connected piece of a candidate's core of this many model-grid voxels (mm³) or more peaking at -mass-prob or more keeps its peak as its score; 0: no rule")
	massProb := flag.Float64("mass-prob", 0.999, "with -mass-voxels: the peak probability the rule asks for")
	dump := flag.String("dump", "", "also write every candidate's measurements (all of detect.RescoreFeatures) and label to this CSV file, for analysis")
	hidden := flag.Int("hidden", 0, "tanh units in a hidden layer between the measurements and the score (manifest.Rescore.Hidden); 0: a logistic model of the measurements")
	epochs := flag.Int("epochs", 3000, "with -hidden: full-batch Adam steps")
	seed := flag.Uint64("seed", 1, "with -hidden: the seed of the starting weights")
	load := flag.String("load", "", "fit on the candidates a -dump wrote (this tool's, the same model and train seeds as -from, -n and -candidate say) instead of measuring the studies again")
	out := flag.String("out", "", "where to write the fitted stage (default models/metnet/rescore.json, or rescore-bright-only.json with -bright-only)")
	flag.Parse()
	names, file := detect.RescoreFeatures, "models/metnet/rescore.json"
	if *brightOnly {
		names, file = detect.BrightOnlyFeatures(), "models/metnet/rescore-bright-only.json"
	}
	if *features != "" {
		names = strings.Split(*features, ",")
	}
	if *out != "" {
		file = *out
	}
	src := source{anatomy: *anatomy, backgrounds: *backgrounds, shared: *shared}
	mass := massRule{*massVoxels, *massProb}
	if mass.voxels == 0 {
		mass.prob = 0
	}
	st := stageFit{l2: *l2, hidden: *hidden, epochs: *epochs, seed: *seed}
	if err := run(*modelPath, *trust, src, *from, *n, *candidate, st, names, *brightOnly, *gated, mass, file, *dump, *load); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// source is where the train studies come from: the classic Colin27
// phantom, or the many-backgrounds phantom on the named train brains.
type source struct{ anatomy, backgrounds, shared string }

// generator is what both phantom generators offer.
type generator interface {
	Generate(seed uint64, split phantom.Split) (*phantom.Case, error)
}

// open returns the generator and the words the stage's Fit record names it
// by.
func (s source) open() (generator, string, error) {
	if s.backgrounds == "" {
		g, err := phantom.NewGenerator(s.anatomy, phantom.Config{})
		return g, phantom.Version, err
	}
	names, err := phantom.BrainsOf(s.backgrounds, phantom.Train)
	if err != nil {
		return nil, "", fmt.Errorf("rescore: %w", err)
	}
	g, err := phantom.NewMultiGenerator(s.shared, names, nil, phantom.Config{})
	if err != nil {
		return nil, "", fmt.Errorf("rescore: %w", err)
	}
	return g, fmt.Sprintf("%s (brains %s)", phantom.VersionMulti, strings.Join(names, ", ")), nil
}

// massRule is the stage's mass rule (manifest.Rescore.MassVoxels and
// MassProb); voxels 0: none.
type massRule struct {
	voxels int
	prob   float64
}

// stageFit is how the stage is fitted: a logistic model with L2 penalty
// l2 (hidden 0), or a hidden layer of hidden tanh units (fitMLP).
type stageFit struct {
	l2     float64
	hidden int
	epochs int
	seed   uint64
}

func (f stageFit) String() string {
	if f.hidden == 0 {
		return fmt.Sprintf("logistic, L2 %g", f.l2)
	}
	return fmt.Sprintf("a hidden layer of %d tanh units, penalty %g·Σw²/candidates, %d Adam steps from seed %d", f.hidden, f.l2, f.epochs, f.seed)
}

func run(modelPath, trust string, src source, from, n int, candidate float64, sf stageFit, features []string, brightOnly, gated bool, mass massRule, out, dump, load string) error {
	at, err := detect.FeatureColumns(features)
	if err != nil {
		return fmt.Errorf("rescore: -features: %w", err)
	}
	if brightOnly {
		// The check the firmware makes before it scores a bright-only study.
		if err := detect.CheckBrightOnly(features); err != nil {
			return fmt.Errorf("rescore: -features: %w", err)
		}
	}
	var all [][]float64 // every candidate's measurements, in detect.RescoreFeatures order
	var y []bool
	outside := -1 // not known when loaded
	generated := "a -dump of the same"
	if load != "" {
		var err error
		if all, y, err = readCSV(load); err != nil {
			return err
		}
		if src.backgrounds != "" {
			// What the dump's rows came from, by the same flags.
			if _, g, err := src.open(); err == nil {
				generated = g
			}
		}
	} else {
		ctx := context.Background()
		md, plan, err := model.OpenTool(ctx, modelPath, trust, "", 0)
		if err != nil {
			return err
		}
		defer md.Close()
		det := &runner.ModelDetector{Model: analyze.Model{Manifest: md.Manifest(), Engine: md, Plan: plan}}
		var gen generator
		gen, generated, err = src.open()
		if err != nil {
			return err
		}
		outside = 0
		for seed := from; seed < from+n; seed++ {
			c, err := gen.Generate(uint64(seed), phantom.Train)
			if err != nil {
				return err
			}
			cx, cy, out, err := candidates(ctx, det, c, candidate, brightOnly, gated)
			if err != nil {
				return fmt.Errorf("rescore: %s: %w", c.ID, err)
			}
			all, y = append(all, cx...), append(y, cy...)
			outside += out
			slog.Info("rescore: study measured", "case", c.ID, "candidates", len(cx), "gated_out", out)
		}
	}
	if dump != "" {
		if err := writeCSV(dump, all, y); err != nil {
			return err
		}
	}
	// The fit sees the chosen measurements; the check below scores every
	// candidate's full measurements through the firmware, as the appliance
	// will.
	x := make([][]float64, len(all))
	for i, row := range all {
		x[i] = make([]float64, len(at))
		for j, k := range at {
			x[i][j] = row[k]
		}
	}
	r := manifest.Rescore{Candidate: candidate, Accept: 0.5, Features: features, MassVoxels: mass.voxels, MassProb: mass.prob}
	if sf.hidden == 0 {
		fitted, err := fit(x, y, sf.l2)
		if err != nil {
			return err
		}
		r.Mean, r.Scale, r.Weights, r.Bias = fitted.Mean, fitted.Scale, fitted.Weights, fitted.Bias
	} else {
		fitted, err := fitMLP(x, y, sf.hidden, sf.l2, sf.epochs, sf.seed)
		if err != nil {
			return err
		}
		r.Mean, r.Scale, r.Weights, r.Bias = fitted.Mean, fitted.Scale, fitted.Weights, fitted.Bias
		r.Hidden = &manifest.Layer{Weights: fitted.W, Bias: fitted.B}
	}
	pos, right := 0, 0
	for i, row := range all {
		sc, err := detect.Score(&r, row)
		if err != nil {
			return err
		}
		if y[i] {
			pos++
		}
		if (sc >= 0.5) == y[i] {
			right++
		}
	}
	input := "VISIBLE studies"
	if brightOnly {
		input = "bright-only studies (black-blood series withheld)"
	}
	gate := ""
	if gated && outside >= 0 {
		gate = fmt.Sprintf(" (%d more left out: mostly outside the brain gate)", outside)
	}
	if load != "" {
		gate = " (loaded from a -dump)"
	}
	rule := ""
	if mass.voxels > 0 {
		rule = fmt.Sprintf("; mass rule (not fitted): a core piece of %d voxels or more at probability %g or more keeps its peak", mass.voxels, mass.prob)
	}
	r.Fit = fmt.Sprintf("%s train split seeds %d-%d as %s: %d candidates at probability %g%s (%d on lesions), %s; %.1f%% classified right at 0.5%s",
		generated, from, from+n-1, input, len(all), candidate, gate, pos, sf, 100*float64(right)/float64(len(all)), rule)
	b, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		return err
	}
	fmt.Println(r.Fit)
	return os.WriteFile(out, append(b, '\n'), 0o644)
}

// candidates runs the model on one phantom study (without its black-blood
// series when brightOnly) and returns its candidates' measurements, whether
// each one's core touches a lesion, and, when gated, how many it left out for lying
// mostly outside the study's brain mask (the rule of detect.GateBrain).
func candidates(ctx context.Context, d *runner.ModelDetector, c *phantom.Case, thr float64, brightOnly, gated bool) ([][]float64, []bool, int, error) {
	black := &volume.Volume{Grid: c.Grid, Data: c.Black}
	if brightOnly {
		black = nil
	}
	mi, prob, err := d.Network(ctx, black, &volume.Volume{Grid: c.Grid, Data: c.Bright})
	if err != nil {
		return nil, nil, 0, err
	}
	dims := mi.Grid.Dims
	cands, err := detect.Candidates(prob, mi.Channel(manifest.ChannelBlack), mi.Channel(manifest.ChannelBright), mi.BrainMask, dims, thr)
	if err != nil {
		return nil, nil, 0, err
	}
	inv, err := c.Grid.Affine.Inverse()
	if err != nil {
		return nil, nil, 0, err
	}
	toCase := inv.Mul(mi.Grid.Affine)
	var x [][]float64
	var y []bool
	outside := 0
	for _, cand := range cands {
		if gated && !detect.InBrain(cand.Voxels, mi.BrainMask) {
			outside++
			continue
		}
		onLesion := false
		for _, i := range cand.Voxels {
			if prob[i] < cand.CoreAt {
				continue
			}
			p := toCase.Apply(geom.Vec3{float64(i % dims[0]), float64(i / dims[0] % dims[1]), float64(i / (dims[0] * dims[1]))})
			X, Y, Z := int(math.Round(p[0])), int(math.Round(p[1])), int(math.Round(p[2]))
			if c.Grid.Contains(X, Y, Z) && c.Labels[c.Grid.Index(X, Y, Z)] != 0 {
				onLesion = true
				break
			}
		}
		x = append(x, cand.Features)
		y = append(y, onLesion)
	}
	return x, y, outside, nil
}

// readCSV reads what writeCSV wrote: each row's measurements, in
// detect.RescoreFeatures order, and its label. A file written for another
// list of measurements is refused.
func readCSV(path string) ([][]float64, []bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("rescore: -load: %w", err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, nil, fmt.Errorf("rescore: -load: %s: %w", path, err)
	}
	if want := append(slices.Clone(detect.RescoreFeatures), "lesion"); len(recs) == 0 || !slices.Equal(recs[0], want) {
		return nil, nil, fmt.Errorf("rescore: -load: %s: its header is not %s", path, strings.Join(want, ","))
	}
	var rows [][]float64
	var y []bool
	for i, rec := range recs[1:] {
		row := make([]float64, len(rec)-1)
		for j := range row {
			if row[j], err = strconv.ParseFloat(rec[j], 64); err != nil {
				return nil, nil, fmt.Errorf("rescore: -load: %s row %d: %w", path, i+2, err)
			}
		}
		switch rec[len(rec)-1] {
		case "0", "1":
		default:
			return nil, nil, fmt.Errorf("rescore: -load: %s row %d: label %q is not 0 or 1", path, i+2, rec[len(rec)-1])
		}
		rows, y = append(rows, row), append(y, rec[len(rec)-1] == "1")
	}
	return rows, y, nil
}

// writeCSV writes the candidates' measurements (a column for each of
// detect.RescoreFeatures) and their labels (1 on a lesion) as CSV.
func writeCSV(path string, rows [][]float64, y []bool) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("rescore: -dump: %w", err)
	}
	w := csv.NewWriter(f)
	w.Write(append(slices.Clone(detect.RescoreFeatures), "lesion"))
	rec := make([]string, len(detect.RescoreFeatures)+1)
	for i, row := range rows {
		for j, v := range row {
			rec[j] = strconv.FormatFloat(v, 'g', 7, 64)
		}
		rec[len(rec)-1] = "0"
		if y[i] {
			rec[len(rec)-1] = "1"
		}
		w.Write(rec)
	}
	w.Flush()
	if err := errors.Join(w.Error(), f.Close()); err != nil {
		return fmt.Errorf("rescore: -dump: %w", err)
	}
	return nil
}
