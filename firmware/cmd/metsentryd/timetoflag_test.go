package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"metsentry/boards"
	"metsentry/firmware/analyze"
	"metsentry/firmware/cache"
	"metsentry/firmware/config"
	"metsentry/firmware/daemon"
	"metsentry/firmware/dimse"
	"metsentry/firmware/testenv"
	"metsentry/runtime/model"
	"metsentry/tools/phantom/phantom"
)

// BenchmarkTimeToFlag times the appliance's promise: from the last image of
// a 2 × 176-slice VISIBLE study acknowledged (C-STORE-RSP Success to the
// console) to the panel's result set and the SR acknowledged by the PACS
// (dcmtk's storescp on loopback), with the daemon's intake service, the
// shipped model (fp32, the sim board's 2 threads) and its outbox, in one
// process. Each iteration also times the network pass over the same study
// (the same SCU sending the same files to a firmware/dimse SCP that only
// writes them to a folder), so the figure is also a ratio against a peer on
// the same machine at the same minute:
//
//	go test -run '^$' -bench TimeToFlag -benchtime 3x -timeout 30m ./firmware/cmd/metsentryd
//
// Metrics: ttf-s (median seconds to the later of flag and SR
// acknowledged), flag-s (to the panel's result), ref-s (the network pass),
// ttf/ref.
func BenchmarkTimeToFlag(b *testing.B) {
	if testing.Short() {
		b.Skip("slow: the shipped model on whole studies")
	}
	storescp := testenv.Program(b, "storescp")
	root := testenv.RepoRoot(b)
	lib := filepath.Join(root, ".cache", "ort", "1.24.1", "linux-x64", "libonnxruntime.so.1")
	if _, err := os.Stat(lib); err != nil {
		b.Fatalf("ONNX Runtime library %s is missing (run ./build.sh deps): %v", lib, err)
	}
	data, file, _ := boards.File("sim")
	board, err := config.ParseBoard(file, data)
	if err != nil {
		b.Fatal(err)
	}
	board.Inference.Library = lib
	if _, err := startORT(board); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	manifests, trustDir := []string{filepath.Join(root, "models", "metnet", "metnet-fp32.manifest.json")}, filepath.Join(root, "models", "trust")

	g, err := phantom.NewGenerator(testenv.SharedData(b, "anatomy", "colin27"), phantom.Config{Dims: [3]int{256, 256, 176}})
	if err != nil {
		b.Fatal(err)
	}
	tmp := b.TempDir()
	pacsDir := filepath.Join(tmp, "pacs")
	if err := os.MkdirAll(pacsDir, 0o755); err != nil {
		b.Fatal(err)
	}
	pacsPort := testenv.FreePort(b)
	scp := exec.Command(storescp, "-aet", "PACS", "-od", pacsDir, fmt.Sprint(pacsPort))
	if err := scp.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { scp.Process.Kill(); scp.Wait() }()

	for _, tc := range []struct {
		name string
		seed uint64
	}{
		{"positive", 10}, // phantom test-0010: lesions
		{"negative", 1},  // test-0001: none
	} {
		c, err := g.Generate(tc.seed, phantom.Test)
		if err != nil {
			b.Fatal(err)
		}
		dir := filepath.Join(tmp, c.ID)
		if err := phantom.WriteDICOM(dir, c); err != nil {
			b.Fatal(err)
		}
		files, _ := filepath.Glob(filepath.Join(dir, "s*", "*.dcm"))
		b.Run(tc.name, func(b *testing.B) {
			var ttf, flag, cpu, ref []float64
			n := 0
			for b.Loop() {
				n++
				r, err := networkPass(ctx, files, filepath.Join(tmp, fmt.Sprintf("ref-%s-%d", tc.name, n)))
				if err != nil {
					b.Fatal(err)
				}
				// A daemon started for this study: its model opened and
				// warmed up as metsentryd does, so no study profits from
				// the memory an earlier one left in ONNX Runtime's arena.
				md, err := openModel(ctx, board, manifests, trustDir, slog.New(slog.DiscardHandler))
				if err != nil {
					b.Fatal(err)
				}
				an := &analyze.Analyzer{
					Model:     &analyze.Model{Manifest: md.Manifest(), Engine: md, Plan: md.Plan(int64(board.Inference.MemoryBudgetMB)<<20, model.BytesPerVoxel(md.Manifest()))},
					Equipment: equipment(board),
				}
				m, err := timeToFlag(ctx, board, an, files, filepath.Join(tmp, fmt.Sprintf("data-%s-%d", tc.name, n)), testenv.FreePort(b), pacsPort)
				md.Close()
				if err != nil {
					b.Fatal(err)
				}
				b.Logf("%s: %d lesions; flag %.2f s, SR acknowledged %.2f s after the last image (%.2f s of CPU); network pass %.2f s",
					tc.name, m.lesions, m.flag.Seconds(), m.acked.Seconds(), m.cpu.Seconds(), r.Seconds())
				ttf = append(ttf, max(m.flag, m.acked).Seconds())
				flag = append(flag, m.flag.Seconds())
				cpu = append(cpu, m.cpu.Seconds())
				ref = append(ref, r.Seconds())
			}
			b.ReportMetric(median(ttf), "ttf-s")
			b.ReportMetric(median(flag), "flag-s")
			b.ReportMetric(median(cpu), "ttf-cpu-s")
			b.ReportMetric(median(ref), "ref-s")
			b.ReportMetric(median(ttf)/median(ref), "ttf/ref")
		})
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// sendStudy sends files over one association with firmware/dimse's SCU and
// returns when the last C-STORE was answered, before the release.
func sendStudy(ctx context.Context, addr string, files []string) (lastAck time.Time, err error) {
	ts := []string{dimse.ExplicitVRLittleEndian, dimse.ImplicitVRLittleEndian}
	a, err := dimse.Dial(ctx, addr, "CONSOLE", "METSENTRY", dimse.Context{AbstractSyntax: dimse.MRImageStorage, TransferSyntaxes: ts})
	if err != nil {
		return time.Time{}, err
	}
	for _, f := range files {
		if err := a.StoreFile(ctx, f); err != nil {
			a.Abort()
			return time.Time{}, err
		}
	}
	lastAck = time.Now()
	return lastAck, a.Release(ctx)
}

// networkPass times sending files to a firmware/dimse SCP that writes them
// to dir (dimse.DirStorage): the network and disk part of a study's way in.
func networkPass(ctx context.Context, files []string, dir string) (time.Duration, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	srv := &dimse.Server{Policy: dimse.Policy{AETitle: "METSENTRY",
		AllowedPeers: []dimse.Peer{{AETitle: "CONSOLE", Prefix: netip.MustParsePrefix("127.0.0.0/8")}}},
		Storage: dimse.DirStorage{Dir: dir}, Logger: slog.New(slog.DiscardHandler)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go srv.Serve(sctx, ln)
	defer srv.Shutdown(ctx)
	t0 := time.Now()
	last, err := sendStudy(ctx, ln.Addr().String(), files)
	return last.Sub(t0), err
}

// flagPanel records when the pipeline set the panel's result.
type flagPanel struct {
	mu      sync.Mutex
	at      time.Time
	lesions int
}

func (p *flagPanel) Receiving()            {}
func (p *flagPanel) Processing()           {}
func (p *flagPanel) SetFault(uint16, bool) {}
func (p *flagPanel) Result(n int) {
	p.mu.Lock()
	p.at, p.lesions = time.Now(), n
	p.mu.Unlock()
}

type ttfMeasure struct {
	flag, acked time.Duration
	cpu         time.Duration // the process's CPU time from the last image to the job delivered
	lesions     int
}

// timeToFlag runs the daemon's intake service with an empty cache in data,
// sends the study and measures from its last image acknowledged to the
// panel's result and to the job delivered (the PACS acknowledged every
// result, the SR included).
func timeToFlag(ctx context.Context, board *config.Board, an *analyze.Analyzer, files []string, data string, port, pacsPort int) (ttfMeasure, error) {
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
		return ttfMeasure{}, err
	}
	b := *board
	b.Storage.DataDir = data
	defer os.RemoveAll(data)
	pan := &flagPanel{}
	done := make(chan daemon.JobEvent, 1)
	svc := daemon.NewIntake(site, &b, slog.New(slog.DiscardHandler))
	svc.Analyzer, svc.Panel = an, pan
	svc.Events = func(e daemon.JobEvent) {
		if cache.Terminal(e.State) {
			select {
			case done <- e:
			default:
			}
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- svc.Run(sctx) }()
	defer func() { cancel(); <-errc }()
	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
	for try := 0; ; try++ { // until the SCP listens
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if try == 100 {
			return ttfMeasure{}, fmt.Errorf("the daemon did not listen on %s: %w", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	last, err := sendStudy(sctx, addr, files)
	if err != nil {
		return ttfMeasure{}, err
	}
	cpu0 := cpuTime()
	var e daemon.JobEvent
	select {
	case e = <-done:
	case err := <-errc:
		return ttfMeasure{}, fmt.Errorf("intake stopped: %v", err)
	case <-sctx.Done():
		return ttfMeasure{}, fmt.Errorf("no job ended within 5 minutes")
	}
	if e.State != cache.JobDelivered {
		return ttfMeasure{}, fmt.Errorf("job %d ended %s: %s", e.Job, e.State, e.Reason)
	}
	cpu := cpuTime() - cpu0
	pan.mu.Lock()
	defer pan.mu.Unlock()
	return ttfMeasure{flag: pan.at.Sub(last), acked: e.At.Sub(last), cpu: cpu, lesions: pan.lesions}, nil
}

// cpuTime is the CPU time (user and system) this process has used, ONNX
// Runtime's threads included: on a machine shared with other work it says
// what a study cost where the wall clock also says how busy the machine was.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
