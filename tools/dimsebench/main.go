// Command dimsebench sends the same two-series MR study with dcmtk storescu to
// dcmtk storescp and to metsentry's C-STORE SCP (with DirStorage: fsync,
// rename, fsync-dir before each Success) in one run, and prints images/s and
// the ratio. It runs once with TCP_NODELAY=1 on both dcmtk sides and once
// with a stock storescu (Nagle's algorithm on).
//
//	go run ./tools/dimsebench -src ../shared/data/dicom/philips-mprage-sag3d
package main

import (
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
	"strconv"
	"strings"
	"syscall"
	"time"

	"metsentry/firmware/dimse"
	"metsentry/firmware/dimse/dimsetest"
)

func main() {
	src := flag.String("src", "../shared/data/dicom/philips-mprage-sag3d", "folder of MR slices the study is built from")
	perSeries := flag.Int("n", 176, "instances per series (two series)")
	syntax := flag.String("syntax", "explicit", "transfer syntax: explicit, implicit or deflated")
	rounds := flag.Int("rounds", 1, "runs per configuration; the best is reported")
	nosync := flag.Bool("nosync", false, "diagnostic: store without fsync (instances are NOT durable when ACKed)")
	serve := flag.String("serve", "", "only run metsentry's SCP (AE METSENTRY, any calling AE from 127.0.0.1) on this address, storing into a temp folder, until interrupted")
	flag.Parse()
	if *serve != "" {
		if err := serveOnly(*serve); err != nil {
			fmt.Fprintln(os.Stderr, "dimsebench:", err)
			os.Exit(1)
		}
		return
	}
	noSync = *nosync
	if err := run(*src, *perSeries, *syntax, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "dimsebench:", err)
		os.Exit(1)
	}
}

func run(src string, perSeries int, syntax string, rounds int) error {
	tmp, err := os.MkdirTemp("", "dimsebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	deflated := 0
	if syntax == "deflated" {
		deflated = 2 * perSeries
	}
	st, err := dimsetest.MakeStudy(src, filepath.Join(tmp, "study"), 2, perSeries, deflated)
	if err != nil {
		return err
	}
	var ts string
	for uid, name := range dimsetest.SyntaxName {
		if name == syntax {
			ts = uid
		}
	}
	files := st.Files[ts]
	if len(files) == 0 {
		return fmt.Errorf("unknown syntax %q (explicit, implicit or deflated)", syntax)
	}
	propose := map[string]string{"explicit": "-xe", "implicit": "-xi", "deflated": "-xd"}[syntax]
	fmt.Printf("study: %d instances, %s, from %s\n", len(files), syntax, src)

	// metsentry SCP.
	ourDir := filepath.Join(tmp, "ours")
	os.MkdirAll(ourDir, 0o755)
	srv := newServer(ourDir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go srv.Serve(context.Background(), ln)
	defer srv.Shutdown(context.Background())
	ourPort := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)

	for _, cfg := range []struct {
		name    string
		nodelay bool
	}{{"TCP_NODELAY=1 on both dcmtk sides", true}, {"stock storescu (Nagle on)", false}} {
		env := os.Environ()
		if cfg.nodelay {
			env = append(env, "TCP_NODELAY=1")
		}
		// dcmtk storescp, restarted per configuration so it gets the env.
		scpDir := filepath.Join(tmp, "storescp")
		os.RemoveAll(scpDir)
		os.MkdirAll(scpDir, 0o755)
		port, err := freePort()
		if err != nil {
			return err
		}
		scp := exec.Command("storescp", "-aet", "STORESCP", "-od", scpDir, "+xa", strconv.Itoa(port))
		scp.Env = env
		if err := scp.Start(); err != nil {
			return fmt.Errorf("starting storescp: %w", err)
		}
		if err := waitListen(port); err != nil {
			scp.Process.Kill()
			return err
		}
		var best [2]float64
		for range rounds {
			for i, target := range []struct{ ae, port string }{{"STORESCP", strconv.Itoa(port)}, {"METSENTRY", ourPort}} {
				d, err := send(env, propose, target.ae, target.port, files)
				if err != nil {
					scp.Process.Kill()
					return err
				}
				best[i] = max(best[i], float64(len(files))/d.Seconds())
			}
		}
		scp.Process.Kill()
		scp.Wait()
		mode := "fsync each"
		if noSync {
			mode = "NO fsync"
		}
		fmt.Printf("%-36s storescp %7.1f images/s   metsentry (%s) %7.1f images/s   ratio %.2fx\n",
			cfg.name+":", best[0], mode, best[1], best[1]/best[0])
	}
	return nil
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

var noSync bool

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

func send(env []string, propose, ae, port string, files []string) (time.Duration, error) {
	args := append([]string{"-R", propose, "-aet", "BENCH", "-aec", ae, "127.0.0.1", port}, files...)
	cmd := exec.Command("storescu", args...)
	cmd.Env = env
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("storescu to %s: %v: %s", ae, err, lastLines(string(out)))
	}
	return d, nil
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
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("storescp did not listen on port %d", port)
}
