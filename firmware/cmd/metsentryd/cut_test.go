package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"metsentry/firmware/cache"
	"metsentry/firmware/dimse"
	"metsentry/firmware/testenv"
)

// TestCutSeriesWaitsForResend runs the real daemon on a series whose images
// announce no count (40 slices of the Philips sagittal MPRAGE) and cuts its
// sender off twice: an association aborted after 15 slices, then, on a
// second one, the daemon killed (SIGKILL) 10 slices later and started
// again. Each time the 2 s quiet period passes with no study ready: the
// part is not taken for the series. The sender then sends the series again
// (25 duplicates and 15 new slices) and releases: the study becomes ready
// once, with all 40 (issue 25, item 5).
func TestCutSeriesWaitsForResend(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs the daemon through two cut transfers and their quiet periods")
	}
	files := listFiles(t, testenv.SharedData(t, "dicom", "philips-mprage-sag3d"))[60:100]
	box := newSimBox(t, ortLibrary(t), "", `ae_title: METSENTRY
port: %d
bind: 127.0.0.1
allowed_peers:
  - {ae_title: SCANNER, address: 127.0.0.1}
destinations:
  - {name: pacs, ae_title: PACS, host: 127.0.0.1, port: 104, send: [seg]}
completeness:
  quiet_period: 2s
  max_wait: 10m
rules:
  t1_fallback:
    filter: {require_contrast: false}
    match: {series_description: "(?i)mp-?rage"}
retention:
  min_free_mb: 64
`)
	addr := "127.0.0.1:" + itoa(box.port)
	send := func(files []string) *dimse.Assoc {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		a, err := dimse.Dial(ctx, addr, "SCANNER", "METSENTRY", dimse.StorageContexts(dimse.MRImageStorage)...)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if err := a.StoreFile(ctx, f); err != nil {
				t.Fatalf("store %s: %v", filepath.Base(f), err)
			}
		}
		return a
	}
	notReady := func(what string) {
		t.Helper()
		time.Sleep(2*time.Second + 3*time.Second) // the quiet period and intake's pass
		if log := box.logText(t); strings.Contains(log, "intake: study ready") {
			t.Fatalf("study ready after %s and the quiet period; log:\n%s", what, tail([]byte(log)))
		}
	}

	d := box.start(t)
	d.waitListening(t, box.port)
	a := send(files[:15])
	a.Abort()
	notReady("an aborted association")
	a = send(files[15:25])
	d.kill(t)
	a.Abort()
	d = box.start(t)
	d.waitListening(t, box.port)
	notReady("a kill and a restart")
	if !strings.Contains(box.logText(t), "series cut off before it was complete") {
		t.Errorf("no log line says the series waits for a resend")
	}

	a = send(files)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if !waitLog(box.log.Name(), 0, "intake: study ready", 15*time.Second) {
		t.Fatalf("study not ready after the resend; log:\n%s", tail([]byte(box.logText(t))))
	}
	d.term(t)
	s, err := cache.Open(box.data, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.View(func(tx *cache.Tx) error {
		var jobs []cache.Job
		tx.Jobs(func(j cache.Job) error { jobs = append(jobs, j); return nil })
		if len(jobs) != 1 || jobs[0].State != cache.JobReady || len(jobs[0].Series) != 1 || jobs[0].Series[0].Count != 40 {
			t.Errorf("jobs %+v; want one ready job reading 40 slices", jobs)
		}
		return nil
	})
}
