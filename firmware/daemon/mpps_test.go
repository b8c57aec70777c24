//go:build !race

// Built like e2e_test.go, whose stand-in network and phantom it shares.

package daemon

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"metsentry/firmware/cache"
	"metsentry/firmware/dimse"
	"metsentry/firmware/testenv"
	"metsentry/tools/phantom/phantom"
)

// TestMPPSStartsStudy: the console stores a study on an association it
// keeps open (so neither the release nor the 5-minute quiet period can
// complete it), then says with MPPS (N-CREATE, then N-SET COMPLETED listing
// every instance it made) that the acquisition is done: the study is
// analysed and delivered to the PACS at once, before the storage
// association ends.
func TestMPPSStartsStudy(t *testing.T) {
	storescp := testenv.Program(t, "storescp")
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
	listed := map[string][]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		h, err := cache.ParseHeader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		listed[h.SeriesInstanceUID] = append(listed[h.SeriesInstanceUID], h.SOPInstanceUID)
	}

	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, pacsPort := startPACS(t, ctx, storescp, tmp, nil)
	port := testenv.FreePort(t)
	site := testSite(t, port, "CONSOLE", pacsDestination(pacsPort, "sr"), "")
	board := simBoard(t, filepath.Join(tmp, "data"))
	events := make(chan JobEvent, 16)
	svc := NewIntake(site, board, slog.New(slog.DiscardHandler))
	svc.Analyzer = standIn(zeroNet{})
	svc.Events = func(e JobEvent) { events <- e }
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() { cancel(); <-done }()

	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var store *dimse.Assoc
	for try := 0; ; try++ { // until the SCP listens
		if store, err = dimse.Dial(ctx, addr, "CONSOLE", "METSENTRY", dimse.StorageContexts(dimse.MRImageStorage)...); err == nil {
			break
		}
		if try == 100 {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer store.Release(ctx)
	for _, f := range files {
		if err := store.StoreFile(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	mpps, err := dimse.Dial(ctx, addr, "CONSOLE", "METSENTRY", dimse.MPPSContext())
	if err != nil {
		t.Fatal(err)
	}
	create, _ := dimse.PerformedStep{Status: dimse.StepInProgress, StudyInstanceUIDs: []string{phantom.StudyUID(c)}}.DataSet()
	uid, err := mpps.NCreate(ctx, "", create)
	if err != nil {
		t.Fatal(err)
	}
	step := dimse.PerformedStep{Status: dimse.StepCompleted, Series: []dimse.PerformedSeries{}}
	for s, uids := range listed {
		step.Series = append(step.Series, dimse.PerformedSeries{SeriesInstanceUID: s, Instances: uids})
	}
	set, err := step.DataSet()
	if err != nil {
		t.Fatal(err)
	}
	if err := mpps.NSet(ctx, uid, set); err != nil {
		t.Fatal(err)
	}
	if err := mpps.Release(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case e := <-events:
			if !cache.Terminal(e.State) {
				continue
			}
			if e.State != cache.JobDelivered {
				t.Fatalf("job ended %s: %s", e.State, e.Reason)
			}
			return // delivered while the storage association is still open
		case <-ctx.Done():
			t.Fatal("the study did not start on the MPPS COMPLETED")
		}
	}
}
