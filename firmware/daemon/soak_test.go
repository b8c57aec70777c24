//go:build !race

// Built like e2e_test.go, whose stand-in network it shares; the race
// detector would slow 30 analyses past reason on a shared 2-core machine.

package daemon

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"metsentry/firmware/cache"
	"metsentry/firmware/dimse"
	"metsentry/firmware/testenv"
	"metsentry/tools/phantom/phantom"
)

// TestSoak sends 30 small phantom studies back to back through the daemon's
// intake service (SCP, cache, intake, pipeline with the whole analysis
// chain, outbox) to dcmtk's storescp as PACS, with the stand-in network, and
// samples the process after each delivery: every study must be delivered
// (an SR and annotated images for each at the PACS), the live heap and
// stacks may not grow by more than 10% (or 1 MB) from studies 6-10 (when
// the caches have settled) to the last five, and the goroutine count must
// come back to where it was.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: 30 studies through the daemon (about a minute)")
	}
	const studies, settled = 30, 5
	storescp := testenv.Program(t, "storescp")
	g, err := phantom.NewGenerator(testenv.SharedData(t, "anatomy", "colin27"), phantom.Config{Dims: [3]int{96, 96, 64}, LesionFree: -1, GhostProb: -1})
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	var sets [][]string
	for i := range studies {
		c, err := g.Generate(uint64(i), phantom.Val)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(tmp, "studies", c.ID)
		if err := phantom.WriteDICOM(dir, c); err != nil {
			t.Fatal(err)
		}
		files, _ := filepath.Glob(filepath.Join(dir, "s*", "*.dcm"))
		sets = append(sets, files)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	pacsDir, pacsPort := startPACS(t, ctx, storescp, tmp, nil)
	port := testenv.FreePort(t)
	site := testSite(t, port, "CONSOLE", pacsDestination(pacsPort, "seg, sr, sc"), "")
	board := simBoard(t, filepath.Join(tmp, "data"))
	events := make(chan JobEvent, 64)
	svc := NewIntake(site, board, slog.New(slog.DiscardHandler))
	svc.Analyzer = standIn(echoBright{})
	svc.Events = func(e JobEvent) { events <- e }
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(sctx) }()
	defer func() { stop(); <-done }()
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	send := func(files []string) error {
		a, err := dimse.Dial(ctx, addr, "CONSOLE", "METSENTRY", dimse.StorageContexts(dimse.MRImageStorage)...)
		if err != nil {
			return err
		}
		for _, f := range files {
			if err := a.StoreFile(ctx, f); err != nil {
				a.Abort()
				return err
			}
		}
		return a.Release(ctx)
	}
	var live, rss, mapped []int64
	var gor []int
	start := time.Now()
	for i, files := range sets {
		err := send(files)
		for try := 0; err != nil && i == 0 && try < 100; try++ { // until the SCP listens
			time.Sleep(50 * time.Millisecond)
			err = send(files)
		}
		if err != nil {
			t.Fatalf("study %d: %v", i, err)
		}
		var e JobEvent
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
		l, a, f := sample(t)
		live, rss, mapped = append(live, l), append(rss, a), append(mapped, f)
		gor = append(gor, runtime.NumGoroutine())
	}
	t.Logf("%d studies in %v; live heap and stacks kB %v; RSS MB (anonymous) %v; RSS MB (file-backed) %v; goroutines %v", studies, time.Since(start).Round(time.Second), kb(live), mb(rss), mb(mapped), gor)
	kinds := map[string]int{}
	got, _ := filepath.Glob(filepath.Join(pacsDir, "*"))
	for _, f := range got {
		kinds[strings.SplitN(filepath.Base(f), ".", 2)[0]]++
	}
	if kinds["SR3"] != studies || kinds["SC"] < studies {
		t.Errorf("the PACS received %v; want an SR and annotated images for each of the %d studies", kinds, studies)
	}
	// What the Go code holds (live heap and stacks) must stay flat: the
	// mean of the last five samples within 10% or 1 MB, whichever is more,
	// of the five after study 6. The allowance covers what is bounded by
	// design and still filling at 30 studies (the outbox keeps its last 256
	// finished jobs in memory, about 3 kB each here); a leak of more than
	// about 50 kB a study shows. The resident sets are logged, not judged:
	// the anonymous one moves by whole MB with how freed pages lie (CI saw
	// 12 and 15 MB alternate with a flat heap), and the file-backed one
	// grows with the cache's bbolt file, which the daemon maps (bounded by
	// retention).
	mean := func(v []int64) float64 {
		var s float64
		for _, x := range v {
			s += float64(x)
		}
		return s / float64(len(v))
	}
	if base, last := mean(live[settled:settled+5]), mean(live[len(live)-5:]); last > max(1.1*base, base+1<<20) {
		t.Errorf("live heap and stacks grew from %.0f kB (studies %d-%d) to %.0f kB (the last five), more than 10%% or 1 MB: %v", base/(1<<10), settled+1, settled+5, last/(1<<10), kb(live))
	}
	if base, last := gor[settled], gor[len(gor)-1]; last > base+2 {
		t.Errorf("goroutines grew from %d after study %d to %d after the last: %v", base, settled+1, last, gor)
	}
}

// sample samples the process five times, 50 ms apart, each after a
// collection that returns freed memory to the system, and returns the
// smallest of each figure: the live heap and stacks (what the Go code
// holds), and the anonymous and file-backed resident sets. The job event
// comes from inside the outbox's delivery, before that goroutine lets go of
// what it sent, so one sample taken at the event caught it or missed it by
// chance; a leak raises the smallest sample as surely as the first.
func sample(t *testing.T) (live, anon, file int64) {
	live, anon, file = math.MaxInt64, math.MaxInt64, math.MaxInt64
	var ms runtime.MemStats
	for i := range 5 {
		if i > 0 {
			time.Sleep(50 * time.Millisecond)
		}
		runtime.GC()
		debug.FreeOSMemory()
		runtime.ReadMemStats(&ms)
		live = min(live, int64(ms.HeapAlloc+ms.StackInuse))
		anon = min(anon, residentBytes(t, "RssAnon:"))
		file = min(file, residentBytes(t, "RssFile:"))
	}
	return live, anon, file
}

// residentBytes reads one resident set size of this process from
// /proc/self/status (field "VmRSS:", "RssAnon:" or "RssFile:").
func residentBytes(t *testing.T, field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

func kb(v []int64) []int64 {
	out := make([]int64, len(v))
	for i, b := range v {
		out[i] = b >> 10
	}
	return out
}

func mb(v []int64) []int64 {
	out := make([]int64, len(v))
	for i, b := range v {
		out[i] = b >> 20
	}
	return out
}
