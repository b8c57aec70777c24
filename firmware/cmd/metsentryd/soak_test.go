//go:build !race

// The race detector would slow the Go half of 30 analyses past reason on a
// shared 2-core machine; build.sh test runs this in its non-race pass.

package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"metsentry/boards"
	"metsentry/firmware/analyze"
	"metsentry/firmware/cache"
	"metsentry/firmware/config"
	"metsentry/firmware/daemon"
	"metsentry/firmware/testenv"
	"metsentry/runtime/model"
	"metsentry/tools/phantom/phantom"
)

// TestSoak sends 30 small phantom studies back to back through the daemon's
// intake service, pipeline and outbox with the shipped model, to dcmtk's
// storescp as PACS, and samples the process after each delivery: every
// study must be delivered, the resident set size may not grow by more than
// 10% from study 6 (when ONNX Runtime's arena and the caches have settled)
// to the last, and the goroutine count must come back to where it was.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: 30 studies through the shipped model (a few minutes)")
	}
	const studies, settled = 30, 5
	storescp := testenv.Program(t, "storescp")
	root := testenv.RepoRoot(t)
	lib := filepath.Join(root, ".cache", "ort", "1.24.1", "linux-x64", "libonnxruntime.so.1")
	if _, err := os.Stat(lib); err != nil {
		t.Fatalf("ONNX Runtime library %s is missing (run ./build.sh deps): %v", lib, err)
	}
	data, file, _ := boards.File("sim")
	board, err := config.ParseBoard(file, data)
	if err != nil {
		t.Fatal(err)
	}
	board.Inference.Library = lib
	tmp := t.TempDir()
	board.Storage.DataDir = filepath.Join(tmp, "data")
	if _, err := startORT(board); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	md, err := openModel(ctx, board, []string{filepath.Join(root, "models", "metnet", "metnet-fp32.manifest.json")}, filepath.Join(root, "models", "trust"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer md.Close()

	// Small studies: 128×128×96 at 1.5 mm (the thickest the default rules
	// take), a whole head on a coarse grid.
	g, err := phantom.NewGenerator(testenv.SharedData(t, "anatomy", "colin27"), phantom.Config{Dims: [3]int{128, 128, 96}, Spacing: 1.5})
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for i := range studies {
		c, err := g.Generate(uint64(i), phantom.Val)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(tmp, "studies", c.ID)
		if err := phantom.WriteDICOM(dir, c); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
	}

	pacsDir := filepath.Join(tmp, "pacs")
	os.MkdirAll(pacsDir, 0o755)
	pacsPort, port := testenv.FreePort(t), testenv.FreePort(t)
	scp := exec.CommandContext(ctx, storescp, "-aet", "PACS", "-od", pacsDir, fmt.Sprint(pacsPort))
	if err := scp.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { scp.Process.Kill(); scp.Wait() }()
	site, err := config.ParseSite("site.yaml", []byte(fmt.Sprintf(`ae_title: METSENTRY
port: %d
bind: 127.0.0.1
allowed_peers:
  - {ae_title: CONSOLE, address: 127.0.0.1}
destinations:
  - {name: pacs, ae_title: PACS, host: 127.0.0.1, port: %d, send: [seg, sr, sc]}
completeness:
  quiet_period: 5m  # never reached: the release and the count complete each series
retention:
  min_free_mb: 64
`, port, pacsPort)))
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan daemon.JobEvent, 64)
	svc := daemon.NewIntake(site, board, slog.New(slog.DiscardHandler))
	svc.Analyzer = &analyze.Analyzer{
		Model:     &analyze.Model{Manifest: md.Manifest(), Engine: md, Plan: md.Plan(int64(board.Inference.MemoryBudgetMB)<<20, model.BytesPerVoxel(md.Manifest()))},
		Equipment: equipment(board),
	}
	svc.Events = func(e daemon.JobEvent) { events <- e }
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(sctx) }()
	defer func() { stop(); <-done }()
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	var rss []int64
	var gor []int
	start := time.Now()
	for i, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "s*", "*.dcm"))
		var err error
		for try := 0; try < 100; try++ { // the first time, until the SCP listens
			if _, err = sendStudy(ctx, addr, files); err == nil || i > 0 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("study %d: %v", i, err)
		}
		var e daemon.JobEvent
		wait := time.After(3 * time.Minute) // intake skips a study without a job event
		for !cache.Terminal(e.State) {
			select {
			case e = <-events:
			case <-wait:
				t.Fatalf("study %d: no job ended within 3 minutes", i)
			}
		}
		if e.State != cache.JobDelivered {
			t.Fatalf("study %d: job %d ended %s: %s", i, e.Job, e.State, e.Reason)
		}
		runtime.GC()
		debug.FreeOSMemory()
		rss = append(rss, residentBytes(t))
		gor = append(gor, runtime.NumGoroutine())
	}
	t.Logf("%d studies in %v; RSS MB %v; goroutines %v", studies, time.Since(start).Round(time.Second), mb(rss), gor)
	if k := pacsKinds(pacsDir); k["SR3"] != studies || k["SC"] < studies {
		t.Errorf("the PACS received %v; want an SR and annotated images for each of the %d studies", k, studies)
	}
	if base, last := rss[settled], rss[len(rss)-1]; float64(last) > 1.1*float64(base) {
		t.Errorf("RSS grew from %d MB after study %d to %d MB after the last (more than 10%%): %v", base>>20, settled+1, last>>20, mb(rss))
	}
	if base, last := gor[settled], gor[len(gor)-1]; last > base+2 {
		t.Errorf("goroutines grew from %d after study %d to %d after the last: %v", base, settled+1, last, gor)
	}
}

// residentBytes reads this process's resident set size (VmRSS).
func residentBytes(t *testing.T) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

func mb(v []int64) []int64 {
	out := make([]int64, len(v))
	for i, b := range v {
		out[i] = b >> 20
	}
	return out
}

// pacsKinds counts the files storescp received by the kind its file names
// start with: SR3 (Comprehensive 3D SR), SG (SEG), SC (secondary capture).
func pacsKinds(dir string) map[string]int {
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	kinds := map[string]int{}
	for _, f := range files {
		kinds[strings.SplitN(filepath.Base(f), ".", 2)[0]]++
	}
	return kinds
}
