package ort

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// amxChildEnv makes the test binary a child that loads ONNX Runtime with or
// without the AMX guard, runs every repro model and prints a JSON report.
const amxChildEnv = "METSENTRY_ORT_AMX_CHILD"

// amxResult is one repro model's worst difference between the fused int8
// kernels and the same QDQ graph run unoptimised (in float), in output
// quantisation steps, over several runs.
type amxResult struct {
	Model    string  `json:"model"`
	MaxSteps float64 `json:"max_steps"`
	BadRuns  int     `json:"bad_runs"`
	Runs     int     `json:"runs"`
}

type amxReport struct {
	Guard   string      `json:"guard"`
	Results []amxResult `json:"results"`
}

func TestMain(m *testing.M) {
	if mode := os.Getenv(amxChildEnv); mode != "" {
		if err := amxChild(mode == "guard"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func amxModels() ([]string, error) {
	return filepath.Glob(filepath.Join("..", "testdata", "amx", "*-int8.onnx"))
}

func amxChild(guarded bool) error {
	var opts []InitOption
	if !guarded {
		opts = append(opts, WithoutAMXGuard())
	}
	if err := Init(DefaultLibraryPath(), opts...); err != nil {
		return err
	}
	models, err := amxModels()
	if err != nil || len(models) == 0 {
		return fmt.Errorf("no repro models in ../testdata/amx: %v", err)
	}
	rep := amxReport{Guard: string(AMXGuard())}
	const runs = 4
	for _, path := range models {
		fused, err := NewSession(path, SessionOptions{IntraOpThreads: 1})
		if err != nil {
			return err
		}
		ref, err := NewSession(path, SessionOptions{IntraOpThreads: 1, NoOptimization: true})
		if err != nil {
			return err
		}
		cin := fused.InputShape()[1]
		shape := []int64{1, cin, 12, 12, 12}
		in := make([]float32, cin*12*12*12)
		for i := range in {
			in[i] = float32(math.Sin(float64(i)*0.731)) * 1.9
		}
		want, _, err := ref.Run(in, shape)
		if err != nil {
			return err
		}
		// The output step is the smallest non-zero difference between
		// reference values of one channel; use the range / 255 instead, which
		// is what the generator set.
		lo, hi := want[0], want[0]
		for _, v := range want {
			lo, hi = min(lo, v), max(hi, v)
		}
		step := float64(hi-lo) / 255
		r := amxResult{Model: filepath.Base(path), Runs: runs}
		for range runs {
			got, _, err := fused.Run(in, shape)
			if err != nil {
				return err
			}
			var worst float64
			for i := range got {
				worst = math.Max(worst, math.Abs(float64(got[i]-want[i]))/step)
			}
			r.MaxSteps = math.Max(r.MaxSteps, worst)
			if worst > 1.5 {
				r.BadRuns++
			}
		}
		fused.Close()
		ref.Close()
		rep.Results = append(rep.Results, r)
	}
	return json.NewEncoder(os.Stdout).Encode(rep)
}

func runAMXChild(t *testing.T, mode string) amxReport {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), amxChildEnv+"="+mode)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child (%s): %v\n%s", mode, err, stderr.String())
	}
	var rep amxReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("child (%s) printed %q: %v", mode, out, err)
	}
	return rep
}

// TestAMXGuardInt8MatchesReference runs every AMX repro model (QDQ Conv3d with
// the layer shapes that trip ONNX Runtime 1.24.1's AMX int8 kernels) with the
// guard on, in a child process, and requires the fused int8 output to match
// the unoptimised float run of the same graph within 1.5 quantisation steps.
// It also runs them without the guard and logs what it sees: the fault is not
// repeatable on every machine, so it is shown, not asserted.
func TestAMXGuardInt8MatchesReference(t *testing.T) {
	rep := runAMXChild(t, "guard")
	if len(rep.Results) != 11 {
		t.Fatalf("ran %d repro models, want 11", len(rep.Results))
	}
	for _, r := range rep.Results {
		if r.BadRuns > 0 {
			t.Errorf("guard %s: %s: %d of %d runs off by up to %.1f quantisation steps", rep.Guard, r.Model, r.BadRuns, r.Runs, r.MaxSteps)
		}
	}
	t.Logf("guard %s: all %d repro models within 1.5 steps", rep.Guard, len(rep.Results))
	off := runAMXChild(t, "off")
	for _, r := range off.Results {
		t.Logf("no guard: %-24s bad runs %d/%d, worst %.1f steps", r.Model, r.BadRuns, r.Runs, r.MaxSteps)
	}
}
