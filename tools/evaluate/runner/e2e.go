package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"metsentry/firmware/dimse"
	"metsentry/tools/evaluate/score"
	"metsentry/tools/phantom/phantom"
)

// E2EOptions says where the daemon is and where its results come back.
type E2EOptions struct {
	Generator  *phantom.Generator
	Split      phantom.Split
	Seeds      []uint64
	Daemon     string // host:port of metsentryd's DICOM SCP
	CallingAE  string // our AE title (default EVALUATE)
	CalledAE   string // the daemon's AE title (default METSENTRY)
	ResultsAE  string // AE title of the results receiver (default EVALRESULTS)
	ResultsDir string // where the results receiver writes what the daemon sends
	// ResultsPort, when non-zero, starts dcmtk's storescp on that port
	// writing into ResultsDir (the daemon must list it as a destination).
	ResultsPort int
	Timeout     time.Duration // wait for one study's SR (default 5 min)
	ScratchDir  string
	Progress    io.Writer
}

// RunE2E sends each phantom study to a running daemon with C-STORE (dcmtk's
// storescu, which must be on PATH), waits
// for the structured report it sends back for that study, scores the SEG
// that came with it (none: nothing found), and times each study from its
// last C-STORE to the arrival of its SR.
func RunE2E(ctx context.Context, o E2EOptions) (*score.Report, error) {
	if o.Generator == nil || len(o.Seeds) == 0 || o.Daemon == "" || o.ResultsDir == "" {
		return nil, errors.New("evaluate: e2e needs a generator, seeds, the daemon's address and a results folder")
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.CallingAE, "EVALUATE")
	def(&o.CalledAE, "METSENTRY")
	def(&o.ResultsAE, "EVALRESULTS")
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Minute
	}
	if err := os.MkdirAll(o.ResultsDir, 0o755); err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	if o.ResultsPort != 0 {
		stop, err := startStoreSCP(ctx, o.ResultsDir, o.ResultsAE, o.ResultsPort)
		if err != nil {
			return nil, err
		}
		defer stop()
	}
	scratch := o.ScratchDir
	if scratch == "" {
		var err error
		if scratch, err = os.MkdirTemp("", "evaluate-e2e-"); err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
		defer os.RemoveAll(scratch)
	}
	rep := &score.Report{
		Data:       "synthetic VISIBLE studies (tools/phantom on Colin27 anatomy); not patient data",
		Split:      string(o.Split),
		Generator:  phantom.Version,
		Seeds:      o.Seeds,
		Detector:   "metsentryd at " + o.Daemon,
		Mode:       "e2e: C-STORE to the daemon, its SEG and SR back over DIMSE",
		Input:      score.InputVISIBLE,
		VesselRule: score.DefaultVesselRule.String(),
	}
	for n, seed := range o.Seeds {
		c, err := o.Generator.Generate(seed, o.Split)
		if err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
		dir := filepath.Join(scratch, c.ID)
		if err := phantom.WriteDICOM(dir, c); err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
		if err := sendStudy(ctx, o, dir); err != nil {
			return nil, fmt.Errorf("evaluate: case %s: %w", c.ID, err)
		}
		sent := time.Now()
		segPath, err := awaitResults(ctx, o, phantom.StudyUID(c))
		if err != nil {
			return nil, fmt.Errorf("evaluate: case %s: %w", c.ID, err)
		}
		secs := time.Since(sent).Seconds()
		pred := make([]bool, c.Grid.Len())
		if segPath != "" {
			sliceOf := map[string]int{}
			for k := 0; k < c.Grid.Dims[2]; k++ {
				sliceOf[phantom.SOPInstanceUID(c, "bright", k)] = k
			}
			lab, err := ReadSEG(segPath, c.Grid.Dims, sliceOf)
			if err != nil {
				return nil, fmt.Errorf("evaluate: case %s: %w", c.ID, err)
			}
			for i, v := range lab {
				pred[i] = v != 0
			}
		}
		in, err := CaseInput(c, pred, secs, score.DefaultVesselRule)
		if err != nil {
			return nil, err
		}
		r, err := score.Case(in)
		if err != nil {
			return nil, err
		}
		rep.Cases = append(rep.Cases, r)
		os.RemoveAll(dir)
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "\r%d/%d studies", n+1, len(o.Seeds))
		}
	}
	if o.Progress != nil {
		fmt.Fprintln(o.Progress)
	}
	rep.Summary = score.Summarize(rep.Cases)
	return rep, nil
}

// sendStudy stores both series of one phantom study in one association
// with dcmtk's storescu, as a scanner console would.
func sendStudy(ctx context.Context, o E2EOptions, dir string) error {
	host, port, err := net.SplitHostPort(o.Daemon)
	if err != nil {
		return fmt.Errorf("daemon address %q: %w", o.Daemon, err)
	}
	out, err := exec.CommandContext(ctx, "storescu", "-aet", o.CallingAE, "-aec", o.CalledAE, "+sd", "+r", host, port, dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("storescu: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// awaitResults polls the results folder until the SR of the study arrives
// and returns the path of its SEG ("" when the daemon sent none: nothing
// found).
func awaitResults(ctx context.Context, o E2EOptions, studyUID string) (string, error) {
	deadline := time.Now().Add(o.Timeout)
	seen := map[string]bool{}
	seg := ""
	for {
		entries, err := os.ReadDir(o.ResultsDir)
		if err != nil {
			return "", fmt.Errorf("evaluate: results folder: %w", err)
		}
		gotSR := false
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || strings.HasPrefix(name, ".") || seen[name] {
				continue
			}
			p := filepath.Join(o.ResultsDir, name)
			ds, err := dicom.ParseFile(p, nil, dicom.SkipPixelData())
			if err != nil {
				continue // still being written; try again next round
			}
			seen[name] = true
			if first(ds, tag.StudyInstanceUID) != studyUID {
				continue
			}
			switch first(ds, tag.SOPClassUID) {
			case dimse.SegmentationStorage:
				seg = p
			case dimse.Comprehensive3DSRStorage:
				gotSR = true
			}
		}
		if gotSR {
			return seg, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no structured report came back within %s (is the daemon configured to send results to %s?)", o.Timeout, o.ResultsAE)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func first(ds dicom.Dataset, t tag.Tag) string {
	e, err := ds.FindElementByTag(t)
	if err != nil {
		return ""
	}
	if v, ok := e.Value.GetValue().([]string); ok && len(v) > 0 {
		return strings.TrimRight(v[0], " \x00")
	}
	return ""
}

// startStoreSCP runs dcmtk's storescp as the results receiver.
func startStoreSCP(ctx context.Context, dir, aet string, port int) (func(), error) {
	bin, err := exec.LookPath("storescp")
	if err != nil {
		return nil, fmt.Errorf("evaluate: storescp (dcmtk) is needed to receive results: %w", err)
	}
	cmd := exec.CommandContext(ctx, bin, "+xa", "-aet", aet, "-od", dir, strconv.Itoa(port))
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("evaluate: storescp: %w", err)
	}
	return func() {
		cmd.Process.Kill()
		cmd.Wait()
	}, nil
}
