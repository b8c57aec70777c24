package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"metsentry/firmware/cache"
	"metsentry/firmware/testenv"
)

// TestCrashRecovery runs the real metsentryd binary, sends two real studies
// to it with dcmtk's storescu, 12 new instances per run, and kills the
// daemon with SIGKILL at random moments (at least 20 times, and until 10
// kills have hit a transfer; every other one
// right after a random number of Success responses, so inside an index
// batch: storage.index_delay is 150 ms here, and the acknowledged instances
// of the batch are durable files not yet recorded), restarting it each time. Then every instance
// storescu saw answered Success must be in the cache, its file intact (the
// recorded sha256, and pixel data equal to the source's), and no file may be
// left unrecorded. Then, as a sender whose transfers failed does, both
// studies are sent again, and each must become ready exactly once, whole.
//
// Studies: the GE oblique MPRAGE, 130 instances (complete by its
// ImagesInAcquisition count), and 40 slices of the Philips sagittal MPRAGE
// (complete by an 8 s quiet period, longer than any restart gap on a loaded machine), about 25 MB in all.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: builds metsentryd and kills it at least 20 times")
	}
	storescu := testenv.Program(t, "storescu")
	root := testenv.RepoRoot(t)
	lib := filepath.Join(root, ".cache", "ort", "1.24.1", "linux-x64", "libonnxruntime.so.1")
	if _, err := os.Stat(lib); err != nil {
		t.Fatalf("ONNX Runtime library %s is missing (run ./build.sh deps): %v", lib, err)
	}
	ge := listFiles(t, testenv.SharedData(t, "dicom", "ge-mprage-ax-oblique"))
	ph := listFiles(t, testenv.SharedData(t, "dicom", "philips-mprage-sag3d"))[60:100]
	if len(ge) != 130 || len(ph) != 40 {
		t.Fatalf("%d GE and %d Philips files, want 130 and 40", len(ge), len(ph))
	}
	all := append(append([]string{}, ge...), ph...)

	tmp := t.TempDir()
	bin := filepath.Join(tmp, "metsentryd")
	build := exec.Command("go", "build", "-o", bin, "./firmware/cmd/metsentryd")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build metsentryd: %v\n%s", err, out)
	}
	data := filepath.Join(tmp, "data")
	board, err := os.ReadFile(filepath.Join(root, "boards", "sim.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	b := strings.Replace(string(board), "data_dir: /var/lib/metsentry-sim", "data_dir: "+data, 1)
	b = strings.Replace(b, "library: .cache/ort/1.24.1/linux-x64/libonnxruntime.so.1", "library: "+lib, 1)
	// A long index batch (storage.index_delay): most kills then land while
	// acknowledged instances wait for their batch's commit.
	b = strings.Replace(b, "  data_dir: "+data, "  data_dir: "+data+"\n  index_delay: 150ms", 1)
	if b == string(board) || !strings.Contains(b, data) || !strings.Contains(b, lib) || !strings.Contains(b, "index_delay") {
		t.Fatal("boards/sim.yaml changed: cannot point its data_dir and library at the test's")
	}
	boardFile := filepath.Join(tmp, "board.yaml")
	os.WriteFile(boardFile, []byte(b), 0o600)
	port := testenv.FreePort(t)
	siteFile := filepath.Join(tmp, "site.yaml")
	os.WriteFile(siteFile, []byte(fmt.Sprintf(`ae_title: METSENTRY
port: %d
bind: 127.0.0.1
allowed_peers:
  - {ae_title: STORESCU, address: 127.0.0.1}
destinations:
  - {name: pacs, ae_title: PACS, host: 127.0.0.1, port: 104, send: [seg]}
completeness:
  quiet_period: 8s
  max_wait: 10m
rules:
  t1_fallback:
    filter: {require_contrast: false}
    match: {series_description: "(?i)mp-?rage"}
retention:
  min_free_mb: 64
`, port)), 0o600)
	logFile, err := os.Create(filepath.Join(tmp, "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 7))
	t.Logf("seed %d", seed)
	start := time.Now()
	acked := map[string]bool{}
	pending := append([]string{}, all...)
	// Kill at least 20 times, and until 10 kills have hit a transfer: whether
	// a kill lands inside one is chance (start-up kills, a kill before the
	// association is up), so a fixed count would leave the claim to luck.
	// maxKills bounds a machine where transfers are never hit.
	const minKills, minWhileSending, maxKills = 20, 10, 60
	kills, killsWhileSending := 0, 0
	killing := func() bool {
		return kills < maxKills && (kills < minKills || killsWhileSending < minWhileSending)
	}
	for cycle := 0; ; cycle++ {
		if cycle > 200 || time.Since(start) > 90*time.Second {
			t.Fatalf("no progress: %d kills, %d of %d instances acknowledged after %v", kills, len(acked), len(all), time.Since(start))
		}
		d := startDaemon(t, bin, boardFile, siteFile, logFile)
		if killing() && rng.IntN(6) == 0 {
			// Kill during start-up and recovery.
			time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
			d.kill(t)
			kills++
			continue
		}
		d.waitListening(t, port)
		final := !killing()
		send := pending
		if len(send) == 0 && !final {
			// Everything acknowledged: resend some (duplicates) to keep the
			// daemon busy while it is killed.
			send = all[rng.IntN(len(all)-20):]
		}
		if !final && len(send) > 12 {
			// Few new instances per killed run, so that new ones (not
			// duplicates, which leave nothing to record) are still being
			// sent when most kills land, however fast the machine.
			send = send[:12]
		}
		if len(send) > 60 {
			send = send[:60]
		}
		if final {
			// Final round: let storescu finish.
			if len(send) > 0 {
				out, err := runStorescu(storescu, port, send, 0, nil)
				recordAcks(out, acked)
				if err != nil {
					t.Fatalf("storescu after the last kill: %v\n%s", err, tail(out))
				}
			}
		} else {
			// Every other kill at a random time (association set-up
			// included), the others right after a random number of Success
			// responses: inside an index batch, with acknowledged instances
			// not yet committed.
			killAfter := time.Duration(50+rng.IntN(600)) * time.Millisecond
			acks := 0
			if kills%2 == 1 && len(send) > 1 {
				killAfter, acks = 20*time.Second, 1+rng.IntN(len(send)-1)
			}
			out, _ := runStorescuKill(storescu, port, send, killAfter, acks, func() { d.kill(t) })
			recordAcks(out, acked)
			kills++
			if bytes.Contains(out, []byte("Sending file")) {
				killsWhileSending++
			}
		}
		pending = pending[:0]
		for _, f := range all {
			if !acked[f] {
				pending = append(pending, f)
			}
		}
		if !final {
			continue
		}
		d.term(t)
		if len(pending) == 0 {
			break
		}
	}
	elapsed := time.Since(start)
	t.Logf("%d SIGKILLs (%d while storescu was sending), %d instances acknowledged, %v", kills, killsWhileSending, len(acked), elapsed)
	if killsWhileSending < minWhileSending {
		t.Errorf("only %d kills hit a transfer; the test is not testing what it claims", killsWhileSending)
	}

	if ents, _ := os.ReadDir(filepath.Join(data, cache.TempDir)); len(ents) != 0 {
		t.Errorf("%d temporary files left after a clean stop", len(ents))
	}
	s, err := cache.Open(data, cache.Options{})
	if err != nil {
		t.Fatalf("open the cache after the run: %v", err)
	}
	records := map[string]bool{}
	err = s.View(func(tx *cache.Tx) error {
		for f := range acked {
			src, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			h, err := cache.ParseHeader(bytes.NewReader(src), int64(len(src)))
			if err != nil {
				return err
			}
			in, ok, err := tx.Instance(h.SOPInstanceUID)
			if err != nil {
				return err
			}
			if !ok {
				t.Errorf("%s: acknowledged with Success but not in the cache", filepath.Base(f))
				continue
			}
			stored, err := os.ReadFile(s.Path(in.Path))
			if err != nil {
				t.Errorf("%s: file of an acknowledged instance: %v", filepath.Base(f), err)
				continue
			}
			if sha256.Sum256(stored) != in.SHA256 {
				t.Errorf("%s: stored file does not match its recorded sha256", filepath.Base(f))
			}
			px := h.Rows * h.Columns * 2
			if len(stored) < px || !bytes.Equal(stored[len(stored)-px:], src[len(src)-px:]) {
				t.Errorf("%s: stored pixel data differs from the source's", filepath.Base(f))
			}
			if in.SeriesInstanceUID != h.SeriesInstanceUID || in.StudyInstanceUID != h.StudyInstanceUID {
				t.Errorf("%s: recorded under another series or study", filepath.Base(f))
			}
		}
		if err := tx.AllInstances(func(in cache.Instance) error { records[in.Path] = true; return nil }); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if len(acked) != len(all) {
		t.Errorf("%d of %d instances acknowledged at the end", len(acked), len(all))
	}
	files := 0
	filepath.WalkDir(filepath.Join(data, cache.InstanceDir), func(p string, de fs.DirEntry, err error) error {
		if err == nil && !de.IsDir() {
			files++
			rel, _ := filepath.Rel(data, p)
			if !records[filepath.ToSlash(rel)] {
				t.Errorf("instance file %s has no record", rel)
			}
		}
		return nil
	})
	if files != len(records) || files != len(all) {
		t.Errorf("%d instance files, %d records, %d instances sent", files, len(records), len(all))
	}

	// A sender whose transfer failed sends it again: here, both studies
	// whole, on one association it releases (every instance a duplicate
	// now). A count-less series a kill cut off is complete only after such
	// a resend (issue 25, item 5); a study already decided stays decided.
	d := startDaemon(t, bin, boardFile, siteFile, logFile)
	d.waitListening(t, port)
	if out, err := runStorescu(storescu, port, all, 0, nil); err != nil {
		t.Fatalf("storescu resending both studies: %v\n%s", err, tail(out))
	}
	// The Philips series' 8 s quiet period and intake's pass.
	time.Sleep(8*time.Second + 3*time.Second)
	d.term(t)
	if s, err = cache.Open(data, cache.Options{}); err != nil {
		t.Fatalf("open the cache after the resend: %v", err)
	}
	defer s.Close()
	err = s.View(func(tx *cache.Tx) error {
		readies := map[string]int{}
		recoveries, adopted, inBatch := 0, 0, 0
		if err := tx.AuditEvents(0, func(e cache.AuditEvent) error {
			switch e.Kind {
			case "study-ready":
				readies[e.Study]++
			case "recover":
				recoveries++
				if strings.Contains(e.Msg, "adopted") || strings.Contains(e.Msg, "restored") {
					inBatch++ // killed with acknowledged instances not yet committed
				}
			case "adopt":
				adopted++
			}
			return nil
		}); err != nil {
			return err
		}
		t.Logf("%d restarts found something to repair; %d of them after a kill inside an index batch; %d unrecorded instance files adopted", recoveries, inBatch, adopted)
		if inBatch < 3 {
			t.Errorf("only %d kills landed inside an index batch; the test is not testing what it claims", inBatch)
		}
		jobs := map[string][]cache.Job{}
		if err := tx.Jobs(func(j cache.Job) error { jobs[j.StudyInstanceUID] = append(jobs[j.StudyInstanceUID], j); return nil }); err != nil {
			return err
		}
		studies := 0
		if err := tx.Studies(func(st cache.Study) error {
			studies++
			js := jobs[st.StudyInstanceUID]
			if readies[st.StudyInstanceUID] != 1 || len(js) != 1 || js[0].State != cache.JobReady || st.Generation != 1 || st.State != cache.StudyReady {
				t.Errorf("study …%s: %d ready events, %d jobs %+v, generation %d, state %s; want exactly one ready job",
					tailUID(st.StudyInstanceUID), readies[st.StudyInstanceUID], len(js), js, st.Generation, st.State)
			}
			return nil
		}); err != nil {
			return err
		}
		if studies != 2 {
			t.Errorf("%d studies in the cache, want 2", studies)
		}
		for _, js := range jobs {
			for _, j := range js {
				want := map[string]int{"3D Ax T1 MP-RAGE_R22": 130, "ADNI_Sag3D MPRAGE": 40}
				if len(j.Series) != 1 {
					t.Errorf("job %d selected %d series", j.ID, len(j.Series))
					continue
				}
				se, _, _ := tx.Series(j.StudyInstanceUID, j.Series[0].SeriesInstanceUID)
				if want[se.Attrs.SeriesDescription] != se.Count || j.Series[0].Count != se.Count {
					t.Errorf("job %d: series %q with %d instances (job saw %d)", j.ID, se.Attrs.SeriesDescription, se.Count, j.Series[0].Count)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

type daemonProc struct {
	cmd    *exec.Cmd
	log    string // the daemon's log file
	logf   *os.File
	args   []string
	exited chan struct{} // closed once the process has exited and been waited for
}

func startDaemon(t *testing.T, bin, board, site string, log *os.File, extra ...string) *daemonProc {
	t.Helper()
	d := &daemonProc{log: log.Name(), logf: log, args: append([]string{bin, "--board", board, "--site", site}, extra...)}
	d.start(t)
	t.Cleanup(func() {
		if d.running() {
			d.cmd.Process.Kill()
			<-d.exited
		}
	})
	return d
}

func (d *daemonProc) start(t *testing.T) {
	t.Helper()
	cmd := exec.Command(d.args[0], d.args[1:]...)
	cmd.Stdout, cmd.Stderr = d.logf, d.logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start metsentryd: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	d.cmd, d.exited = cmd, exited
}

// running reports whether the daemon has not exited.
func (d *daemonProc) running() bool {
	select {
	case <-d.exited:
		return false
	default:
		return true
	}
}

func (d *daemonProc) kill(t *testing.T) {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited
}

func (d *daemonProc) term(t *testing.T) {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		if !d.cmd.ProcessState.Success() {
			t.Errorf("metsentryd did not stop cleanly on SIGTERM: %v", d.cmd.ProcessState)
		}
	case <-time.After(15 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
		t.Fatal("metsentryd did not stop within 15 s of SIGTERM")
	}
}

// waitListening waits for the daemon to accept connections on port. A
// start that finds the port taken (a restarted daemon's port is only free
// again when no other process's outgoing connection holds it as its local
// port, and tests running beside this one open thousands) is started again.
func (d *daemonProc) waitListening(t *testing.T, port int) {
	t.Helper()
	// With a model, the daemon listens after its self-test and warm-up
	// pass: seconds on an idle machine, tens of them on a busy one.
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if !d.running() {
			if !strings.HasSuffix(strings.TrimSpace(d.logTail()), "address already in use\"") {
				t.Fatalf("metsentryd exited during start-up; its log ends:\n%s", d.logTail())
			}
			t.Logf("port %d was taken when metsentryd started; starting it again", port)
			time.Sleep(500 * time.Millisecond)
			d.start(t)
			continue
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("metsentryd did not listen within 90 s; its log ends:\n%s", d.logTail())
}

// logTail returns the last lines of the daemon's log.
func (d *daemonProc) logTail() string {
	raw, err := os.ReadFile(d.log)
	if err != nil {
		return err.Error()
	}
	return tail(raw)
}

// runStorescu sends files; with killAfter > 0 it calls kill after that long
// and then waits for storescu to give up (at most 10 s).
func runStorescu(bin string, port int, files []string, killAfter time.Duration, kill func()) ([]byte, error) {
	return runStorescuKill(bin, port, files, killAfter, 0, kill)
}

// runStorescuKill runs storescu and calls kill killAfter after it starts,
// or, when acks > 0, as soon as storescu has seen that many Success
// responses (with killAfter as the deadline).
func runStorescuKill(bin string, port int, files []string, killAfter time.Duration, acks int, kill func()) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"-v", "-aet", "STORESCU", "-aec", "METSENTRY", "-to", "5", "127.0.0.1", fmt.Sprint(port)}, files...)
	cmd := exec.CommandContext(ctx, bin, args...)
	out := &ackWriter{want: acks, reached: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	if killAfter > 0 {
		select {
		case <-time.After(killAfter):
		case <-out.reached:
		}
		kill()
	}
	err := cmd.Wait()
	return out.bytes(), err
}

// ackWriter keeps storescu's output and signals once it holds want
// Success responses.
type ackWriter struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	want    int
	seen    int
	reached chan struct{}
}

func (w *ackWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	before := w.seen
	w.buf.Write(p)
	w.seen = bytes.Count(w.buf.Bytes(), []byte("Received Store Response (Success)"))
	if w.want > 0 && before < w.want && w.seen >= w.want {
		close(w.reached)
	}
	return len(p), nil
}

func (w *ackWriter) bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Clone(w.buf.Bytes())
}

// recordAcks marks each file storescu saw answered Success.
func recordAcks(out []byte, acked map[string]bool) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	cur := ""
	for sc.Scan() {
		line := sc.Text()
		if f, ok := strings.CutPrefix(line, "I: Sending file: "); ok {
			cur = f
		} else if strings.HasPrefix(line, "I: Received Store Response (Success)") && cur != "" {
			acked[cur] = true
			cur = ""
		}
	}
}

func listFiles(t *testing.T, dir string) []string {
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

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func tailUID(u string) string {
	if len(u) > 12 {
		return u[len(u)-12:]
	}
	return u
}
