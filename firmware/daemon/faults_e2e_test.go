//go:build !race

// Like e2e_test.go, this runs the Go half of a whole analysis, too slow
// under the race detector on a shared 2-core machine.

package daemon

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"metsentry/firmware/cache"
	"metsentry/firmware/testenv"
	"metsentry/tools/phantom/phantom"
)

// TestStudyWaitsForTheRuntime: a study received while the inference runtime
// or model is down (the daemon runs without an analyzer after FaultRuntime
// or FaultModel) is kept and not analysed; the daemon started again with a
// working one analyses it and delivers its results. Nothing is lost to the
// fault.
func TestStudyWaitsForTheRuntime(t *testing.T) {
	storescu, storescp := testenv.Program(t, "storescu"), testenv.Program(t, "storescp")
	g, err := phantom.NewGenerator(testenv.SharedData(t, "anatomy", "colin27"), phantom.Config{Dims: [3]int{96, 96, 64}, LesionFree: -1, GhostProb: -1})
	if err != nil {
		t.Fatal(err)
	}
	c, err := g.Generate(3, phantom.Val)
	if err != nil {
		t.Fatal(err)
	}
	study := t.TempDir()
	if err := phantom.WriteDICOM(study, c); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(study, "s*", "*.dcm"))
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pacsDir, pacsPort := startPACS(t, ctx, storescp, tmp, nil)
	port := testenv.FreePort(t)
	site := testSite(t, port, "STORESCU", pacsDestination(pacsPort, "seg, sr, sc"), "")
	board := simBoard(t, filepath.Join(tmp, "data"))
	// Intake decides a study ready shortly after the release (its batch of
	// records is committed first); the test waits for that line.
	ready := make(chan struct{}, 1)
	log := slog.New(&readyHook{ready: ready})

	// While the runtime is down: received and kept, not analysed.
	down := NewIntake(site, board, log)
	dctx, dcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- down.Run(dctx) }()
	var out []byte
	for try := 0; try < 50; try++ { // until the SCP listens
		out, err = exec.CommandContext(ctx, storescu, "-aet", "STORESCU", "-aec", "METSENTRY", "127.0.0.1", fmt.Sprint(port), "+sd", "+r", study).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "Connection refused") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err == nil {
		select {
		case <-ready:
		case <-time.After(30 * time.Second):
			t.Error("no study ready within 30 s of the release")
		}
	}
	dcancel()
	if rerr := <-done; rerr != nil {
		t.Fatalf("intake without a runtime: %v", rerr)
	}
	if err != nil {
		t.Fatalf("storescu while the runtime is down: %v\n%s", err, out)
	}
	store, err := cache.Open(board.Storage.DataDir, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	instances := 0
	store.View(func(tx *cache.Tx) error {
		tx.AllInstances(func(cache.Instance) error { instances++; return nil })
		return tx.Jobs(func(j cache.Job) error {
			if j.State != cache.JobReady {
				t.Errorf("job %d is %s while the runtime is down; want ready (waiting)", j.ID, j.State)
			}
			return nil
		})
	})
	store.Close()
	if instances != len(files) {
		t.Fatalf("%d instances kept of %d sent while the runtime was down", instances, len(files))
	}

	// Started again with a working runtime: analysed and delivered.
	events := make(chan JobEvent, 16)
	up := NewIntake(site, board, log)
	up.Analyzer = standIn(echoBright{})
	up.Events = func(e JobEvent) { events <- e }
	uctx, ucancel := context.WithCancel(ctx)
	go func() { done <- up.Run(uctx) }()
	defer func() { ucancel(); <-done }()
	var final JobEvent
	for final.State == "" || !cache.Terminal(final.State) {
		select {
		case final = <-events:
		case <-ctx.Done():
			t.Fatal("the study received while the runtime was down never reached a terminal state")
		}
	}
	if final.State != cache.JobDelivered {
		t.Fatalf("job ended %s: %s", final.State, final.Reason)
	}
	got, _ := filepath.Glob(filepath.Join(pacsDir, "SR3*"))
	var srs int
	for _, f := range got {
		if b, err := os.ReadFile(f); err == nil && bytes.Contains(b, []byte("DICM")) {
			srs++
		}
	}
	if srs != 1 {
		t.Errorf("PACS holds %d SRs, want 1", srs)
	}
}

// readyHook drops every log record and signals the first "study ready".
type readyHook struct {
	ready chan struct{}
}

func (h *readyHook) Enabled(context.Context, slog.Level) bool { return true }

func (h *readyHook) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "intake: study ready" {
		select {
		case h.ready <- struct{}{}:
		default:
		}
	}
	return nil
}

func (h *readyHook) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *readyHook) WithGroup(string) slog.Handler      { return h }
