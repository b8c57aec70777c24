package bench

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"metsentry/runtime/infer"
	"metsentry/runtime/ort"
)

// Config says what to bench.
type Config struct {
	TestData string // folder holding unet-fp32.onnx, unet-int8.onnx, make_models.py
	Library  string // libonnxruntime path
	Threads  int
	Dims     [3]int // study size (D, H, W)
	Runs     int    // timed runs after one warm-up
	Python   string // interpreter with torch; "" skips PyTorch
	TmpDir   string
	// Extra adds rows: memory pattern on, CPU arena off.
	Extra bool
	// Providers for the ORT rows (board order, e.g. tensorrt,cuda); empty
	// means cpu.
	Providers []string
	// TorchDevice is the PyTorch device: cpu or cuda.
	TorchDevice string
	// Patch, when above 0, adds fp32 and INT8 rows that run in tiles of
	// this cube (overlap 32, blended) through infer.Predict.
	Patch int
	// Progress, when set, receives one line per finished configuration.
	Progress io.Writer
}

// Row is one configuration's result.
type Row struct {
	Name       string    `json:"name"`
	Provider   string    `json:"provider"`
	Precision  string    `json:"precision"`
	Guard      string    `json:"guard"`
	FirstS     float64   `json:"first_s"` // first run, including start costs
	TimesS     []float64 `json:"times_s"`
	CPUS       []float64 `json:"cpu_s"` // user+system CPU seconds of each timed run
	PeakRSSKB  int64     `json:"peak_rss_kb"`
	MaxDiff    float64   `json:"max_diff_vs_fp32"` // against the guarded fp32 row
	MeanDiff   float64   `json:"mean_diff_vs_fp32"`
	Note       string    `json:"note,omitempty"`
	outputFile string
}

// Median returns the median timed run.
func (r Row) Median() float64 { return median(r.TimesS) }

// MedianCPU returns the median CPU seconds of the timed runs.
func (r Row) MedianCPU() float64 { return median(r.CPUS) }

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	t := append([]float64(nil), v...)
	sort.Float64s(t)
	return t[len(t)/2]
}

// childArgs is what a child process is told.
type childArgs struct {
	Model      string   `json:"model"`
	Guard      bool     `json:"guard"`
	MemPattern bool     `json:"mem_pattern"`
	NoArena    bool     `json:"no_arena"`
	Library    string   `json:"library"`
	Threads    int      `json:"threads"`
	Dims       [3]int   `json:"dims"`
	Runs       int      `json:"runs"`
	Out        string   `json:"out"`
	Providers  []string `json:"providers"`
	EngineDir  string   `json:"engine_dir"`
	Patch      int      `json:"patch"` // >0: tiles of this cube, overlap 32, through infer.Predict
}

// EnvChild marks a child process; its value is the JSON childArgs.
const EnvChild = "METSENTRY_BENCH_CHILD"

// MaybeChild runs the child part and exits when this process is a bench
// child. Mains and TestMain call it first.
func MaybeChild() {
	a := os.Getenv(EnvChild)
	if a == "" {
		return
	}
	var ca childArgs
	if err := json.Unmarshal([]byte(a), &ca); err != nil {
		fmt.Fprintln(os.Stderr, "bench child:", err)
		os.Exit(2)
	}
	r, err := child(ca)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench child:", err)
		os.Exit(2)
	}
	json.NewEncoder(os.Stdout).Encode(r)
	os.Exit(0)
}

// Input returns the bench input: 2 channels, sin/cos pattern (the PyTorch
// script computes the same values).
func Input(d [3]int) []float32 {
	n := 2 * d[0] * d[1] * d[2]
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(math.Sin(float64(i)*0.37)*1.5 + math.Cos(float64(i)*0.011))
	}
	return v
}

func child(a childArgs) (*Row, error) {
	var opts []ort.InitOption
	if !a.Guard {
		opts = append(opts, ort.WithoutAMXGuard())
	}
	if err := ort.Init(a.Library, opts...); err != nil {
		return nil, err
	}
	s, err := ort.NewSession(a.Model, ort.SessionOptions{
		IntraOpThreads: a.Threads, MemPattern: a.MemPattern, NoCPUArena: a.NoArena,
		Providers: a.Providers, EngineCache: a.EngineDir, INT8: strings.HasSuffix(a.Model, "-int8.onnx"),
	})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	in := Input(a.Dims)
	shape := []int64{1, 2, int64(a.Dims[0]), int64(a.Dims[1]), int64(a.Dims[2])}
	r := &Row{Guard: string(ort.AMXGuard()), Provider: s.Provider()}
	t0 := time.Now()
	run := func() ([]float32, error) {
		if a.Patch == 0 {
			out, _, err := s.Run(in, shape)
			return out, err
		}
		p := a.Patch
		out, _, _, err := infer.Predict(context.Background(), sessionEngine{s}, in, [5]int64(shape),
			infer.Plan{Multiple: 8, Patch: [3]int{p, p, p}, Overlap: [3]int{32, 32, 32}, Margin: [3]int{16, 16, 16}, Blend: true, ForceTiles: true})
		return out, err
	}
	out, err := run()
	if err != nil {
		return nil, err
	}
	r.FirstS = time.Since(t0).Seconds()
	for range a.Runs {
		c0 := cpuSeconds()
		t0 := time.Now()
		if out, err = run(); err != nil {
			return nil, err
		}
		r.TimesS = append(r.TimesS, time.Since(t0).Seconds())
		r.CPUS = append(r.CPUS, cpuSeconds()-c0)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		r.PeakRSSKB = ru.Maxrss
	}
	return r, writeF32(a.Out, out)
}

// sessionEngine runs an ort.Session as an infer.Engine.
type sessionEngine struct{ s *ort.Session }

func (e sessionEngine) Run(ctx context.Context, in []float32, shape [5]int64) ([]float32, error) {
	out, _, err := e.s.RunContext(ctx, in, shape[:])
	return out, err
}
func (e sessionEngine) Provider() string { return e.s.Provider() }
func (e sessionEngine) Close() error     { return e.s.Close() }

// cpuSeconds returns the process's user+system CPU time: unlike wall time
// it stays meaningful on a machine shared with other work.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func writeF32(path string, v []float32) error {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return os.WriteFile(path, b, 0o600)
}

func readF32(path string) ([]float32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}

// Run benches every configuration and writes a table to w.
func Run(ctx context.Context, c Config, w io.Writer) ([]Row, error) {
	if c.TmpDir == "" {
		c.TmpDir = os.TempDir()
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	type cfg struct {
		name, prec  string
		guard       bool
		mem, noAren bool
		patch       int
	}
	cfgs := []cfg{
		{"ORT fp32", "fp32", true, false, false, 0},
		{"ORT int8", "int8", true, false, false, 0},
		{"ORT fp32, no AMX guard", "fp32", false, false, false, 0},
		{"ORT int8, no AMX guard", "int8", false, false, false, 0},
	}
	if c.Extra {
		cfgs = append(cfgs, cfg{"ORT fp32, memory pattern on", "fp32", true, true, false, 0}, cfg{"ORT fp32, CPU arena off", "fp32", true, false, true, 0})
	}
	if c.Patch > 0 {
		for _, prec := range []string{"fp32", "int8"} {
			cfgs = append(cfgs, cfg{fmt.Sprintf("ORT %s, tiles %d³", prec, c.Patch), prec, true, false, false, c.Patch})
		}
	}
	var rows []Row
	for i, k := range cfgs {
		out := filepath.Join(c.TmpDir, fmt.Sprintf("bench-%d-%d.f32", os.Getpid(), i))
		defer os.Remove(out)
		a, _ := json.Marshal(childArgs{
			Model: filepath.Join(c.TestData, "unet-"+k.prec+".onnx"), Guard: k.guard, MemPattern: k.mem, NoArena: k.noAren,
			Library: c.Library, Threads: c.Threads, Dims: c.Dims, Runs: c.Runs, Out: out,
			Providers: c.Providers, EngineDir: filepath.Join(c.TmpDir, "trt-engines"), Patch: k.patch,
		})
		cmd := exec.CommandContext(ctx, self, "-test.run=^$")
		cmd.Env = append(os.Environ(), EnvChild+"="+string(a))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			return rows, fmt.Errorf("bench: %s: %v: %s", k.name, err, stderr.String())
		}
		var r Row
		if err := json.Unmarshal(b, &r); err != nil {
			return rows, fmt.Errorf("bench: %s printed %q: %v", k.name, b, err)
		}
		r.Name, r.Precision, r.outputFile = k.name, k.prec, out
		rows = append(rows, r)
		if c.Progress != nil {
			fmt.Fprintf(c.Progress, "bench: %s on %s: %.3f s/study (%.2f CPU s), first %.3f s, peak RSS %.0f MB\n",
				r.Name, r.Provider, r.Median(), r.MedianCPU(), r.FirstS, float64(r.PeakRSSKB)/1024)
		}
	}
	if c.Python != "" {
		out := filepath.Join(c.TmpDir, fmt.Sprintf("bench-%d-torch.f32", os.Getpid()))
		defer os.Remove(out)
		script := filepath.Join(c.TestData, "..", "bench", "torch_bench.py")
		dev := c.TorchDevice
		if dev == "" {
			dev = "cpu"
		}
		cmd := exec.CommandContext(ctx, c.Python, script, c.TestData, fmt.Sprint(c.Threads),
			fmt.Sprint(c.Dims[0]), fmt.Sprint(c.Dims[1]), fmt.Sprint(c.Dims[2]), fmt.Sprint(c.Runs), out, dev)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		r := Row{Name: "PyTorch fp32", Provider: "torch-" + dev, Precision: "fp32", Guard: "-", outputFile: out}
		var tr struct {
			FirstS    float64   `json:"first_s"`
			TimesS    []float64 `json:"times_s"`
			CPUS      []float64 `json:"cpu_s"`
			PeakRSSKB int64     `json:"peak_rss_kb"`
			Torch     string    `json:"torch"`
		}
		if err == nil {
			err = json.Unmarshal(b, &tr)
		}
		if err != nil {
			r.Note = "not run: " + strings.TrimSpace(lastLine(stderr.String()+" "+fmt.Sprint(err)))
			r.outputFile = ""
		} else {
			r.FirstS, r.TimesS, r.CPUS, r.PeakRSSKB, r.Note = tr.FirstS, tr.TimesS, tr.CPUS, tr.PeakRSSKB, "torch "+tr.Torch
		}
		rows = append(rows, r)
	}
	ref, err := readF32(rows[0].outputFile)
	if err != nil {
		return rows, fmt.Errorf("bench: %w", err)
	}
	for i := range rows {
		if rows[i].outputFile == "" {
			rows[i].MaxDiff, rows[i].MeanDiff = math.NaN(), math.NaN()
			continue
		}
		got, err := readF32(rows[i].outputFile)
		if err != nil || len(got) != len(ref) {
			return rows, fmt.Errorf("bench: %s output: %v (%d values, want %d)", rows[i].Name, err, len(got), len(ref))
		}
		var m, sum float64
		for j := range got {
			d := math.Abs(float64(got[j] - ref[j]))
			m = math.Max(m, d)
			sum += d
		}
		rows[i].MaxDiff, rows[i].MeanDiff = m, sum/float64(len(got))
	}
	print(w, c, rows)
	return rows, nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, "\n"); i >= 0 {
		return s[i+1:]
	}
	return s
}

func print(w io.Writer, c Config, rows []Row) {
	fmt.Fprintf(w, "bench U-Net 8-16-32-64 (random weights, speed only), input 1x2x%dx%dx%d, %d threads, median of %d runs after one warm-up; CPU s = user+system CPU seconds per study (meaningful on a shared machine); |d| = output difference from ORT fp32; speed = fp32 time / this time\n",
		c.Dims[0], c.Dims[1], c.Dims[2], c.Threads, c.Runs)
	fmt.Fprintf(w, "%-30s %-10s %-10s %9s %9s %9s %12s %10s %10s %10s  %s\n", "configuration", "provider", "AMX guard", "first s", "s/study", "CPU s", "peak RSS MB", "max |d|", "mean |d|", "speed", "note")
	base := rows[0].Median()
	for _, r := range rows {
		fmt.Fprintf(w, "%-30s %-10s %-10s %9.3f %9.3f %9.2f %12.0f %10.3g %10.3g %9.2fx  %s\n", r.Name, r.Provider, r.Guard, r.FirstS, r.Median(), r.MedianCPU(), float64(r.PeakRSSKB)/1024, r.MaxDiff, r.MeanDiff, base/r.Median(), r.Note)
	}
}

// ParseDims reads a -dims value, DxHxW, each at least 8.
func ParseDims(s string) ([3]int, error) {
	var d [3]int
	if _, err := fmt.Sscanf(strings.ReplaceAll(s, "x", " "), "%d %d %d", &d[0], &d[1], &d[2]); err != nil || min(d[0], d[1], d[2]) < 8 {
		return d, fmt.Errorf("bench: -dims %q: expected DxHxW of at least 8 each, e.g. 160x192x160", s)
	}
	return d, nil
}

// Flags registers the bench flags on fs; call the returned function after
// parsing to get the config.
func Flags(fs *flag.FlagSet) func() (Config, error) {
	var c Config
	fs.StringVar(&c.TestData, "testdata", "runtime/testdata", "folder with unet-fp32.onnx, unet-int8.onnx and make_models.py")
	fs.StringVar(&c.Library, "lib", ort.DefaultLibraryPath(), "ONNX Runtime shared library")
	fs.IntVar(&c.Threads, "threads", 2, "intra-op threads (and torch threads)")
	d := fs.String("dims", "160x192x160", "study size DxHxW")
	fs.IntVar(&c.Runs, "runs", 3, "timed runs per configuration after one warm-up")
	fs.StringVar(&c.Python, "python", "/usr/bin/python3", `python with torch for the PyTorch row ("" skips it)`)
	fs.BoolVar(&c.Extra, "extra", false, "also bench memory pattern on and CPU arena off")
	prov := fs.String("providers", "cpu", "ORT execution providers in order, e.g. tensorrt,cuda,cpu")
	fs.StringVar(&c.TorchDevice, "torch-device", "cpu", "PyTorch device: cpu or cuda")
	fs.IntVar(&c.Patch, "patch", 0, "also run fp32 and INT8 in tiles of this cube (a multiple of 8, above 40)")
	return func() (Config, error) {
		c.Providers = strings.Split(*prov, ",")
		var err error
		if c.Dims, err = ParseDims(*d); err != nil {
			return c, err
		}
		if c.Patch != 0 && (c.Patch%8 != 0 || c.Patch <= 40) {
			return c, fmt.Errorf("bench: -patch %d must be a multiple of 8 above 40", c.Patch)
		}
		if c.Threads < 1 || c.Runs < 1 {
			return c, errors.New("bench: -threads and -runs must be at least 1")
		}
		return c, nil
	}
}
