// Command dimsebench measures how fast a study can be handed to the box: it
// sends the same two-series MR study with dcmtk storescu, round by round,
// to each receiver in turn, in one run on one machine:
//
//   - dcmtk storescp, which writes files and syncs nothing;
//   - storescp, then `sync`, timed together: the peer that makes the study
//     durable (once, at the end);
//   - firmware/dimse's SCP with DirStorage (fsync, rename, fsync-dir per
//     instance);
//   - metsentryd itself, the real daemon binary on a fresh cache each round,
//     whose Success means the instance is durable and recorded.
//
// It does so with TCP_NODELAY=1 on the dcmtk sides and one association,
// with four associations at once (storescp --fork), and with a stock
// storescu and storescp (Nagle's algorithm on), and prints the median
// images/s of each receiver with metsentryd's ratios to the others, and the
// daemon's CPU time per instance. With -strace it then sends the study once
// more to a daemon under strace -f -c and prints the sync, rename and mkdir
// calls per instance.
//
//	go run ./tools/dimsebench                      # builds metsentryd from this tree
//	go run ./tools/dimsebench -daemon /tmp/old/metsentryd -strace
//
// -serve runs only the dimse SCP (DirStorage) on an address, for profiling.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"metsentry/firmware/dimse"
	"metsentry/firmware/dimse/dimsetest"
)

func main() {
	src := flag.String("src", "../shared/data/dicom/philips-mprage-sag3d", "folder of MR slices the study is built from")
	perSeries := flag.Int("n", 176, "instances per series (two series)")
	syntax := flag.String("syntax", "explicit", "transfer syntax: explicit, implicit or deflated")
	rounds := flag.Int("rounds", 3, "sends per receiver and configuration; the median is reported")
	daemon := flag.String("daemon", "", "metsentryd binary to measure (default: go build ./firmware/cmd/metsentryd)")
	board := flag.String("board", "boards/sim.yaml", "board file the daemon runs with (its data_dir and library are replaced)")
	ort := flag.String("ort", ".cache/ort/1.24.1/linux-x64/libonnxruntime.so.1", "ONNX Runtime library for the daemon")
	strace := flag.Bool("strace", false, "also count the daemon's sync, rename and mkdir calls per instance under strace -f -c")
	nosync := flag.Bool("nosync", false, "diagnostic: DirStorage without fsync (instances are NOT durable when ACKed)")
	serve := flag.String("serve", "", "only run the dimse SCP with DirStorage (AE METSENTRY, any calling AE from 127.0.0.1) on this address until interrupted")
	flag.Parse()
	noSync = *nosync
	var err error
	if *serve != "" {
		err = serveOnly(*serve)
	} else {
		err = run(options{src: *src, perSeries: *perSeries, syntax: *syntax, rounds: *rounds, daemon: *daemon,
			board: *board, ort: *ort, strace: *strace})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dimsebench:", err)
		os.Exit(1)
	}
}

type options struct {
	src, syntax, daemon, board, ort string
	perSeries, rounds               int
	strace                          bool
}

// receiver is one thing the study is sent to.
type receiver struct {
	name string
	// start prepares a fresh receiver for one send and returns its port;
	// stop ends it and returns what it cost (sync time, daemon CPU).
	start func(cfg config) (port int, err error)
	stop  func() (extra time.Duration, cpu time.Duration, err error)
	ae    string
}

type config struct {
	name    string
	nodelay bool
	assocs  int
	peers   []string // receivers measured in this configuration
}

func run(o options) error {
	tmp, err := os.MkdirTemp("", "dimsebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	deflated := 0
	if o.syntax == "deflated" {
		deflated = 2 * o.perSeries
	}
	st, err := dimsetest.MakeStudy(o.src, filepath.Join(tmp, "study"), 2, o.perSeries, deflated)
	if err != nil {
		return err
	}
	var ts string
	for uid, name := range dimsetest.SyntaxName {
		if name == o.syntax {
			ts = uid
		}
	}
	files := st.Files[ts]
	if len(files) == 0 {
		return fmt.Errorf("unknown syntax %q (explicit, implicit or deflated)", o.syntax)
	}
	propose := map[string]string{"explicit": "-xe", "implicit": "-xi", "deflated": "-xd"}[o.syntax]
	bin := o.daemon
	if bin == "" {
		bin = filepath.Join(tmp, "metsentryd")
		build := exec.Command("go", "build", "-o", bin, "./firmware/cmd/metsentryd")
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("go build metsentryd: %v\n%s", err, out)
		}
	}
	ort, err := filepath.Abs(o.ort)
	if err != nil {
		return err
	}
	if _, err := os.Stat(ort); err != nil {
		return fmt.Errorf("ONNX Runtime library (run ./build.sh deps): %w", err)
	}
	fmt.Printf("study: %d instances, %s, from %s; %d rounds, median reported; daemon %s\n", len(files), o.syntax, o.src, o.rounds, bin)

	d := &daemonReceiver{bin: bin, board: o.board, ort: ort, dir: filepath.Join(tmp, "daemon")}
	recv := map[string]*receiver{
		"storescp":        storescpReceiver(filepath.Join(tmp, "storescp"), false),
		"storescp + sync": storescpReceiver(filepath.Join(tmp, "storescp-sync"), true),
		"dimse+DirStorage": {name: "dimse+DirStorage", ae: "METSENTRY",
			start: func(config) (int, error) { return dirServer(filepath.Join(tmp, "dir")) },
			stop:  func() (time.Duration, time.Duration, error) { return 0, 0, stopDirServer() }},
		"metsentryd": {name: "metsentryd", ae: "METSENTRY", start: d.start, stop: d.stop},
	}
	all := []string{"storescp", "storescp + sync", "dimse+DirStorage", "metsentryd"}
	for _, cfg := range []config{
		{"TCP_NODELAY=1, 1 association", true, 1, all},
		{"TCP_NODELAY=1, 4 associations", true, 4, all},
		{"stock storescu and storescp (Nagle on), 1 association", false, 1, []string{"storescp", "metsentryd"}},
	} {
		env := os.Environ()
		if cfg.nodelay {
			env = append(env, "TCP_NODELAY=1")
		}
		rates := map[string][]float64{}
		var cpu []time.Duration
		for range o.rounds {
			for _, name := range cfg.peers {
				r := recv[name]
				port, err := r.start(cfg)
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				dt, err := send(env, propose, r.ae, port, files, cfg.assocs)
				extra, c, serr := r.stop()
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				if serr != nil {
					return fmt.Errorf("%s: %w", name, serr)
				}
				rates[name] = append(rates[name], float64(len(files))/(dt+extra).Seconds())
				if name == "metsentryd" {
					cpu = append(cpu, c)
				}
			}
		}
		fmt.Printf("\n%s:\n", cfg.name)
		ours := median(rates["metsentryd"])
		for _, name := range cfg.peers {
			m := median(rates[name])
			line := fmt.Sprintf("  %-18s %7.1f images/s (%s)", name, m, spread(rates[name]))
			if name != "metsentryd" {
				line += fmt.Sprintf("   metsentryd/%s %.2fx", name, ours/m)
			} else {
				slices.Sort(cpu)
				line += fmt.Sprintf("   daemon CPU %.2f ms/instance while receiving", float64(cpu[len(cpu)/2].Microseconds())/1000/float64(len(files)))
			}
			fmt.Println(line)
		}
	}
	if o.strace {
		if err := straceDaemon(d, propose, files); err != nil {
			return err
		}
	}
	return nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func spread(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.0f", x)
	}
	return strings.Join(parts, " ")
}

// storescpReceiver runs dcmtk storescp (with --fork for several
// associations); withSync adds the time of a `sync` after the send.
func storescpReceiver(dir string, withSync bool) *receiver {
	var cmd *exec.Cmd
	name := "storescp"
	if withSync {
		name += " + sync"
	}
	r := &receiver{name: name, ae: "STORESCP"}
	r.start = func(cfg config) (int, error) {
		os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return 0, err
		}
		port, err := freePort()
		if err != nil {
			return 0, err
		}
		args := []string{"-aet", "STORESCP", "-od", dir, "+xa"}
		if cfg.assocs > 1 {
			args = append(args, "--fork")
		}
		cmd = exec.Command("storescp", append(args, strconv.Itoa(port))...)
		if cfg.nodelay {
			cmd.Env = append(os.Environ(), "TCP_NODELAY=1")
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // --fork children die with it
		if err := cmd.Start(); err != nil {
			return 0, fmt.Errorf("starting storescp: %w", err)
		}
		return port, waitListen(port)
	}
	r.stop = func() (time.Duration, time.Duration, error) {
		var extra time.Duration
		if withSync {
			t := time.Now()
			if out, err := exec.Command("sync").CombinedOutput(); err != nil {
				return 0, 0, fmt.Errorf("sync: %v %s", err, out)
			}
			extra = time.Since(t)
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		return extra, 0, nil
	}
	return r
}

// daemonReceiver runs the metsentryd binary on the board file with a fresh
// data folder per send, accepting the calling AE BENCH from loopback.
type daemonReceiver struct {
	bin, board, ort, dir string
	prefix               []string // a command that runs the daemon (strace)
	cmd                  *exec.Cmd
	n                    int
	cpu0                 time.Duration // CPU used when it started listening
}

func (d *daemonReceiver) start(config) (int, error) {
	d.n++
	dir := filepath.Join(d.dir, strconv.Itoa(d.n))
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return 0, err
	}
	raw, err := os.ReadFile(d.board)
	if err != nil {
		return 0, err
	}
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	for sc.Scan() {
		line := sc.Text()
		switch t := strings.TrimSpace(line); {
		case strings.HasPrefix(t, "data_dir:"):
			line = line[:strings.Index(line, "data_dir:")] + "data_dir: " + data
		case strings.HasPrefix(t, "library:"):
			line = line[:strings.Index(line, "library:")] + "library: " + d.ort
		}
		b.WriteString(line + "\n")
	}
	boardFile := filepath.Join(dir, "board.yaml")
	if err := os.WriteFile(boardFile, []byte(b.String()), 0o600); err != nil {
		return 0, err
	}
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	siteFile := filepath.Join(dir, "site.yaml")
	site := fmt.Sprintf(`ae_title: METSENTRY
port: %d
bind: 127.0.0.1
allowed_peers:
  - {ae_title: BENCH, address: 127.0.0.1}
destinations:
  - {name: pacs, ae_title: PACS, host: 127.0.0.1, port: 104, send: [seg]}
`, port)
	if err := os.WriteFile(siteFile, []byte(site), 0o600); err != nil {
		return 0, err
	}
	log, err := os.Create(filepath.Join(dir, "daemon.log"))
	if err != nil {
		return 0, err
	}
	defer log.Close()
	args := append(slices.Clone(d.prefix), d.bin, "--board", boardFile, "--site", siteFile)
	d.cmd = exec.Command(args[0], args[1:]...)
	d.cmd.Stdout, d.cmd.Stderr = log, log
	if err := d.cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting metsentryd: %w", err)
	}
	if err := waitListen(port); err != nil {
		d.cmd.Process.Kill()
		d.cmd.Wait()
		return 0, fmt.Errorf("%w (see %s)", err, log.Name())
	}
	d.cpu0 = procCPU(d.cmd.Process.Pid)
	return port, nil
}

// procCPU is the user and system time a process has used so far (0 when
// /proc cannot tell).
func procCPU(pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

// stop ends the daemon with SIGTERM and returns the CPU time it used from
// listening until the study was in (start-up and shutdown left out).
func (d *daemonReceiver) stop() (time.Duration, time.Duration, error) {
	cpu := procCPU(d.cmd.Process.Pid) - d.cpu0
	pid := d.cmd.Process.Pid
	if len(d.prefix) > 0 {
		// Under strace: stop the daemon, and strace ends with it.
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if f := strings.Fields(string(raw)); err == nil && len(f) > 0 {
			pid, _ = strconv.Atoi(f[0])
		}
	}
	syscall.Kill(pid, syscall.SIGTERM)
	err := d.cmd.Wait()
	if err != nil {
		return 0, cpu, fmt.Errorf("metsentryd did not stop cleanly: %w (see %s)", err, filepath.Join(d.dir, strconv.Itoa(d.n), "daemon.log"))
	}
	return 0, cpu, nil
}

// straceDaemon sends the study once, one association, to a daemon under
// strace -f -c and prints the file-system calls that make instances
// durable, per instance. strace slows the daemon; only the counts matter.
func straceDaemon(d *daemonReceiver, propose string, files []string) error {
	out := filepath.Join(d.dir, "strace.txt")
	d.prefix = []string{"strace", "-f", "-c", "-o", out,
		"-e", "trace=fsync,fdatasync,syncfs,sync_file_range,rename,renameat,renameat2,mkdir,mkdirat,openat"}
	defer func() { d.prefix = nil }()
	cfg := config{nodelay: true, assocs: 1}
	port, err := d.start(cfg)
	if err != nil {
		return err
	}
	if _, err := send(append(os.Environ(), "TCP_NODELAY=1"), propose, "METSENTRY", port, files, 1); err != nil {
		d.stop()
		return err
	}
	if _, _, err := d.stop(); err != nil {
		return err
	}
	counts, err := readStrace(out)
	if err != nil {
		return err
	}
	fmt.Printf("\nmetsentryd system calls per instance (strace -f -c, %d instances, TCP_NODELAY=1, 1 association, start-up and shutdown included):\n", len(files))
	for _, c := range []string{"fdatasync", "fsync", "syncfs", "sync_file_range", "rename", "renameat", "renameat2", "mkdir", "mkdirat", "openat"} {
		if n, ok := counts[c]; ok {
			fmt.Printf("  %-16s %6d  %.3f per instance\n", c, n, float64(n)/float64(len(files)))
		}
	}
	return nil
}

// readStrace parses strace -c output into calls per system call.
func readStrace(path string) (map[string]int, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("strace output: %w", err)
	}
	counts := map[string]int{}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		// % time, seconds, usecs/call, calls, [errors], syscall
		if len(f) < 5 || strings.HasPrefix(line, "%") || strings.HasPrefix(line, "-") {
			continue
		}
		name := f[len(f)-1]
		if name == "total" {
			continue
		}
		n, err := strconv.Atoi(f[3])
		if err != nil {
			continue
		}
		counts[name] = n
	}
	if len(counts) == 0 {
		return nil, fmt.Errorf("no calls in %s", path)
	}
	return counts, nil
}

// send runs storescu over assocs associations at once (files split in
// contiguous parts) and returns the time until the last one finished.
func send(env []string, propose, ae string, port int, files []string, assocs int) (time.Duration, error) {
	parts := make([][]string, assocs)
	for i, f := range files {
		k := i * assocs / len(files)
		parts[k] = append(parts[k], f)
	}
	start := time.Now()
	errs := make([]error, assocs)
	var wg sync.WaitGroup
	for i, part := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := append([]string{"-R", propose, "-aet", "BENCH", "-aec", ae, "127.0.0.1", strconv.Itoa(port)}, part...)
			cmd := exec.Command("storescu", args...)
			cmd.Env = env
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("storescu to %s: %v: %s", ae, err, lastLines(string(out)))
			}
		}()
	}
	wg.Wait()
	return time.Since(start), errors.Join(errs...)
}

var (
	noSync  bool
	dirSrv  *dimse.Server
	dirDone chan struct{}
)

// dirServer starts firmware/dimse's SCP with DirStorage in a fresh folder.
func dirServer(dir string) (int, error) {
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	dirSrv = newServer(dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	dirDone = make(chan struct{})
	go func() { defer close(dirDone); dirSrv.Serve(context.Background(), ln) }()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func stopDirServer() error {
	err := dirSrv.Shutdown(context.Background())
	<-dirDone
	return err
}

func serveOnly(addr string) error {
	dir, err := os.MkdirTemp("", "dimsebench-serve-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv := newServer(dir, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Printf("serving on %s, storing into %s\n", ln.Addr(), dir)
	err = srv.Serve(ctx, ln)
	if errors.Is(err, dimse.ErrServerClosed) {
		return nil
	}
	return err
}

func newServer(dir string, log *slog.Logger) *dimse.Server {
	var st dimse.Storage = dimse.DirStorage{Dir: dir}
	if noSync {
		st = noSyncStorage{dimse.DirStorage{Dir: dir}}
	}
	return &dimse.Server{
		Policy:  dimse.Policy{AETitle: "METSENTRY", AllowedPeers: []dimse.Peer{{Prefix: netip.MustParsePrefix("127.0.0.1/32")}}},
		Storage: st,
		Logger:  log,
	}
}

// noSyncStorage renames without fsync, to measure what durability costs.
type noSyncStorage struct{ dimse.DirStorage }

func (s noSyncStorage) Store(_ context.Context, f *os.File, in dimse.Instance) error {
	name := f.Name()
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(name, s.Path(in.SOPInstanceUID))
}

func lastLines(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-5):], "\n")
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitListen(port int) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on port %d after 2 minutes", port)
}
