package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"metsentry/firmware/cache"
	"metsentry/firmware/testenv"
	"metsentry/tools/phantom/phantom"
)

// TestCrashPipeline runs the real metsentryd with the shipped model and
// kills it with SIGKILL 20 times at random moments while three phantom
// studies (two with lesions, one without, sent at the first, seventh and
// thirteenth start so that work is under way throughout) are received,
// analysed and delivered to dcmtk's storescp acting as PACS; then lets it
// finish. Every third kill hits a transfer (of what is left of a study, or
// the latest study sent again) after a random number of Success responses,
// and the next start begins with the sender retrying that transfer whole;
// every third falls within 0.4 s of an analysis starting, and every third
// the moment the daemon logs its results written, as the outbox sends them
// (a run with no job to start within 20 s is killed then, between jobs).
// The kills follow the daemon's log, not the clock, so they land where they
// aim on a fast machine and a loaded one alike. The test tallies where
// they fell (from the daemon's log) and wants each of ingest, inference and
// delivery hit. Every job must end in a terminal state, the last job of
// each study delivered, and the PACS must hold exactly one SR series, one SC series and at most
// one SEG series per study (one for the study with lesions, none for the
// one without): a job run again after a kill sends results with the same
// UIDs, which replace, never duplicate.
func TestCrashPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs the shipped model on three whole studies, killed 20 times (10 to 20 minutes on a shared 2-core machine)")
	}
	storescu, storescp := testenv.Program(t, "storescu"), testenv.Program(t, "storescp")
	root := testenv.RepoRoot(t)
	lib := filepath.Join(root, ".cache", "ort", "1.24.1", "linux-x64", "libonnxruntime.so.1")
	if _, err := os.Stat(lib); err != nil {
		t.Fatalf("ONNX Runtime library %s is missing (run ./build.sh deps): %v", lib, err)
	}
	g, err := phantom.NewGenerator(testenv.SharedData(t, "anatomy", "colin27"), phantom.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	var studies [][]string
	var studyUIDs []string
	for _, seed := range []uint64{10, 1, 4} { // test-0010: 5 lesions; test-0001: none; test-0004: lesions
		c, err := g.Generate(seed, phantom.Test)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(tmp, c.ID)
		if err := phantom.WriteDICOM(dir, c); err != nil {
			t.Fatal(err)
		}
		files, _ := filepath.Glob(filepath.Join(dir, "s*", "*.dcm"))
		studies = append(studies, files)
		studyUIDs = append(studyUIDs, phantom.StudyUID(c))
	}

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
	b = strings.Replace(b, "device: /run/metsentry-sim/panel", "device: "+filepath.Join(tmp, "no-panel"), 1)
	boardFile := filepath.Join(tmp, "board.yaml")
	os.WriteFile(boardFile, []byte(b), 0o600)
	port, pacsPort := testenv.FreePort(t), testenv.FreePort(t)
	pacsDir := filepath.Join(tmp, "pacs")
	os.MkdirAll(pacsDir, 0o755)
	scp := exec.Command(storescp, "-aet", "PACS", "-od", pacsDir, fmt.Sprint(pacsPort))
	if err := scp.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { scp.Process.Kill(); scp.Wait() }()
	siteFile := filepath.Join(tmp, "site.yaml")
	os.WriteFile(siteFile, []byte(fmt.Sprintf(`ae_title: METSENTRY
port: %d
bind: 127.0.0.1
allowed_peers:
  - {ae_title: STORESCU, address: 127.0.0.1}
destinations:
  - {name: pacs, ae_title: PACS, host: 127.0.0.1, port: %d, send: [seg, sr, sc]}
completeness:
  quiet_period: 5s
  max_wait: 10m
retention:
  min_free_mb: 64
`, port, pacsPort)), 0o600)
	logFile, err := os.Create(filepath.Join(tmp, "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	model := []string{"--model", filepath.Join(root, "models", "metnet", "metnet-fp32.manifest.json"), "--trust", filepath.Join(root, "models", "trust")}

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 11))
	t.Logf("seed %d", seed)
	start := time.Now()
	acked := map[string]bool{}
	const kills = 20
	phases := map[string]int{}
	var retry []string // the files of the transfer the last kill cut
	for cycle := 0; cycle < kills; cycle++ {
		logStart := logSize(logFile)
		d := startDaemon(t, bin, boardFile, siteFile, logFile, model...)
		d.waitListening(t, port)
		phase := ""
		if retry != nil {
			// The sender retries the transfer the last kill cut, whole: a
			// count-less series cut off waits for that resend.
			out, _ := runStorescu(storescu, port, retry, 0, nil)
			recordAcks(out, acked)
			retry = nil
		}
		for i, files := range studies {
			if cycle < 6*i {
				continue // sent later
			}
			var send []string
			for _, f := range files {
				if !acked[f] {
					send = append(send, f)
				}
			}
			ingest := cycle%3 == 0 // every third kill hits a transfer
			if len(send) == 0 && ingest && (i == len(studies)-1 || cycle < 6*(i+1)) {
				send = files // the latest study again: duplicates, no new job
			}
			if len(send) == 0 {
				continue
			}
			if !ingest {
				out, _ := runStorescu(storescu, port, send, 0, nil)
				recordAcks(out, acked)
				continue
			}
			// Kill after a random number of Success responses (or at the
			// deadline when storescu fails first): inside the transfer
			// however fast the machine.
			acks := 1 + rng.IntN(max(1, len(send)-1))
			out, _ := runStorescuKill(storescu, port, send, 60*time.Second, acks, func() { d.kill(t) })
			recordAcks(out, acked)
			retry = send
			phase = "ingest"
			break
		}
		if d.running() {
			// Aim at a job's analysis (every third kill) or at its delivery
			// (every third, the moment its results are written), from the
			// daemon's log. A run with no job to start within 20 s (a quiet
			// period and a restart) is killed between jobs.
			if waitLog(logFile.Name(), logStart, "pipeline: analysis started", 20*time.Second) {
				if cycle%3 == 1 {
					time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
				} else {
					waitLog(logFile.Name(), logStart, "pipeline: study analysed", 3*time.Minute)
				}
			}
			d.kill(t)
			phase = phaseAt(t, logFile.Name(), logStart)
		}
		phases[phase]++
	}
	t.Logf("kills by phase: %v", phases)
	if phases["ingest"] < kills/3 || phases["inference"] == 0 || phases["delivery"] == 0 {
		t.Errorf("kills by phase %v; want at least %d in transfers and some in inference and in delivery", phases, kills/3)
	}
	// The last run: the sender retries its failed transfers, each study
	// whole (a series cut off while it was being sent waits for that
	// resend; a study already decided ignores the duplicates), and the
	// daemon is let finish.
	d := startDaemon(t, bin, boardFile, siteFile, logFile, model...)
	d.waitListening(t, port)
	for _, files := range studies {
		out, err := runStorescu(storescu, port, files, 0, nil)
		recordAcks(out, acked)
		if err != nil {
			t.Fatalf("storescu after the last kill: %v\n%s", err, tail(out))
		}
	}
	// Let it finish: stop it once its log has been quiet for 20 s (longer
	// than one analysis), and start it again while a job has not ended.
	for round := 0; ; round++ {
		quietSince, size := time.Now(), int64(-1)
		for time.Since(quietSince) < 20*time.Second {
			if fi, err := logFile.Stat(); err == nil && fi.Size() != size {
				size, quietSince = fi.Size(), time.Now()
			}
			time.Sleep(500 * time.Millisecond)
		}
		d.term(t)
		if allEnded(t, data) {
			break
		}
		if round == 4 {
			log, _ := os.ReadFile(logFile.Name())
			t.Fatalf("jobs have not ended after 5 quiet periods; log tail:\n%s", tail(log))
		}
		d = startDaemon(t, bin, boardFile, siteFile, logFile, model...)
		d.waitListening(t, port)
	}
	t.Logf("%d kills, %d instances acknowledged, %v", kills, len(acked), time.Since(start))

	s, err := cache.Open(data, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	last := map[string]cache.Job{}
	s.View(func(tx *cache.Tx) error {
		return tx.Jobs(func(j cache.Job) error {
			if !cache.Terminal(j.State) {
				t.Errorf("job %d of study …%s ended %s: %s", j.ID, tailUID(j.StudyInstanceUID), j.State, j.Reason)
			}
			if j.Generation >= last[j.StudyInstanceUID].Generation {
				last[j.StudyInstanceUID] = j
			}
			t.Logf("job %d study …%s generation %d: %s (%s), %d attempts", j.ID, tailUID(j.StudyInstanceUID), j.Generation, j.State, j.Reason, j.Attempts)
			return nil
		})
	})
	if len(last) != len(studies) {
		t.Errorf("%d studies have jobs, want %d", len(last), len(studies))
	}
	for st, j := range last {
		if j.State != cache.JobDelivered {
			t.Errorf("study …%s: last job %d ended %s, want delivered", tailUID(st), j.ID, j.State)
		}
	}

	// At the PACS: one result series of each kind per study.
	series := map[string]map[string]bool{} // study|modality -> series UIDs
	instances := map[string]bool{}
	got, _ := filepath.Glob(filepath.Join(pacsDir, "*"))
	for _, f := range got {
		ds, err := dicom.ParseFile(f, nil, dicom.SkipPixelData())
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(f), err)
		}
		get := func(tg tag.Tag) string {
			e, err := ds.FindElementByTag(tg)
			if err != nil {
				return ""
			}
			return strings.Join(e.Value.GetValue().([]string), `\`)
		}
		k := get(tag.StudyInstanceUID) + "|" + get(tag.Modality)
		if series[k] == nil {
			series[k] = map[string]bool{}
		}
		series[k][get(tag.SeriesInstanceUID)] = true
		instances[get(tag.SOPInstanceUID)] = true
	}
	segs := 0
	for k, uids := range series {
		if len(uids) != 1 {
			t.Errorf("PACS holds %d %s series of study …%s; want one (a resend must replace)", len(uids), k[strings.Index(k, "|")+1:], tailUID(k))
		}
		if strings.HasSuffix(k, "|SEG") {
			segs++
		}
	}
	for i, uid := range studyUIDs {
		_, seg := series[uid+"|SEG"]
		if series[uid+"|SR"] == nil || series[uid+"|OT"] == nil {
			t.Errorf("study %d (…%s): no SR or no SC series at the PACS", i, tailUID(uid))
		}
		if want := map[int]bool{0: true, 1: false}; i < 2 && seg != want[i] {
			t.Errorf("study %d (…%s): a SEG at the PACS: %v; want %v", i, tailUID(uid), seg, want[i])
		}
	}
	if len(series) != 2*len(studyUIDs)+segs {
		t.Errorf("PACS holds %v; want an SR and an SC series for each study and a SEG for each with lesions", series)
	}
	t.Logf("PACS: %d files, %d distinct instances, series %v", len(got), len(instances), series)
}

// allEnded reports whether every job in the (stopped) daemon's cache has
// ended and no study is still receiving.
func allEnded(t *testing.T, data string) bool {
	t.Helper()
	s, err := cache.Open(data, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ended := true
	s.View(func(tx *cache.Tx) error {
		return tx.Jobs(func(j cache.Job) error {
			ended = ended && cache.Terminal(j.State)
			return nil
		})
	})
	return ended
}

// waitLog waits until the daemon's log, from offset from, holds msg (and
// reports true), or until limit.
func waitLog(log string, from int64, msg string, limit time.Duration) bool {
	f, err := os.Open(log)
	if err != nil {
		return false
	}
	defer f.Close()
	var seen []byte
	b := make([]byte, 64<<10)
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(time.Millisecond) {
		n, _ := f.ReadAt(b, from+int64(len(seen)))
		seen = append(seen, b[:n]...)
		if bytes.Contains(seen, []byte(msg)) {
			return true
		}
	}
	return false
}

// logSize is how far the daemon's log has been written.
func logSize(f *os.File) int64 {
	fi, err := f.Stat()
	if err != nil {
		return 0
	}
	return fi.Size()
}

// phaseAt says where a kill fell, from the last pipeline step the daemon
// logged since it started (at offset from): "inference" after an analysis
// started, "delivery" after results were written and before the job was
// delivered, else "between jobs".
func phaseAt(t *testing.T, log string, from int64) string {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil || int64(len(b)) < from {
		return "unknown"
	}
	phase := "between jobs"
	for _, line := range strings.Split(string(b[from:]), "\n") {
		switch {
		case strings.Contains(line, "pipeline: analysis started"):
			phase = "inference"
		case strings.Contains(line, "pipeline: study analysed"):
			phase = "delivery"
		case strings.Contains(line, "pipeline: job "):
			phase = "between jobs"
		}
	}
	return phase
}
