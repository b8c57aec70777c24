package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"metsentry/firmware/cache"
	"metsentry/firmware/dimse"
	"metsentry/firmware/dimse/dimsetest"
	"metsentry/firmware/testenv"
)

// strangerAddr is a loopback address of no allowed peer: Linux answers the
// whole of 127.0.0.0/8, so the flood comes from a second address of this
// machine while the console sends from 127.0.0.1.
const strangerAddr = "127.0.0.2"

// TestFloodWholeDaemon is the hardening campaign's acceptance attack on the
// real daemon: 60 sockets from an address that is no allowed peer, each
// reopened as soon as the daemon closes it, while the allowed console sends
// a 352-image study (2 series × 176, dimsetest.MakeStudy) with dcmtk's
// storescu. Every instance must be acknowledged with Success, and after a
// clean stop every one must be in the cache, recorded, with the pixel data
// that was sent; the daemon must have seen and refused the flood.
func TestFloodWholeDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: builds a 352-image study and sends it through a flood")
	}
	storescu := testenv.Program(t, "storescu")
	testenv.Program(t, "storescp") // dimsetest.MakeStudy runs it
	src := testenv.SharedData(t, "dicom", "philips-mprage-sag3d")
	box := newSimBox(t, ortLibrary(t), "", `ae_title: METSENTRY
port: %d
bind: 127.0.0.1
allowed_peers:
  - {ae_title: STORESCU, address: 127.0.0.1}
destinations:
  - {name: pacs, ae_title: PACS, host: 127.0.0.1, port: 104, send: [seg]}
completeness:
  quiet_period: 30s
  max_wait: 10m
retention:
  min_free_mb: 64
`)
	study, err := dimsetest.MakeStudy(src, filepath.Join(box.dir, "study"), 2, 176, 0)
	if err != nil {
		t.Fatal(err)
	}
	files := study.Files[dimse.ExplicitVRLittleEndian]
	if len(files) != 352 {
		t.Fatalf("MakeStudy gave %d files, want 352", len(files))
	}
	d := box.start(t)
	d.waitListening(t, box.port)

	// The flood: 60 sockets from the stranger's address, each one reopened
	// as soon as the daemon closes it, until the study is sent.
	ctx, cancel := context.WithCancel(context.Background())
	var opened, refusedAtOnce atomic.Int64
	var wg sync.WaitGroup
	target := net.JoinHostPort("127.0.0.1", itoa(box.port))
	for range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(strangerAddr)}, Timeout: 2 * time.Second}
			for ctx.Err() == nil {
				c, err := dialer.DialContext(ctx, "tcp", target)
				if err != nil {
					select { // a full backlog: try again soon
					case <-ctx.Done():
					case <-time.After(10 * time.Millisecond):
					}
					continue
				}
				opened.Add(1)
				t0 := time.Now()
				stop := context.AfterFunc(ctx, func() { c.Close() })
				io.Copy(io.Discard, c) //nolint:errcheck // read until the daemon closes it
				stop()
				c.Close()
				if time.Since(t0) < time.Second {
					refusedAtOnce.Add(1)
				}
			}
		}()
	}
	// Let the flood fill the stranger's budget before the console starts.
	deadline := time.Now().Add(10 * time.Second)
	for opened.Load() < 120 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}

	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer scancel()
	t0 := time.Now()
	args := append([]string{"-v", "-aet", "STORESCU", "-aec", "METSENTRY", "-to", "30", "127.0.0.1", itoa(box.port)}, files...)
	cmd := exec.CommandContext(sctx, storescu, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	sendTime := time.Since(t0)
	cancel()
	wg.Wait()
	if err != nil {
		t.Fatalf("storescu during the flood: %v\n%s", err, tail(out.Bytes()))
	}
	acked := map[string]bool{}
	recordAcks(out.Bytes(), acked)
	t.Logf("352 instances sent in %v while %d stranger connections were opened (%d closed by the daemon within 1 s)",
		sendTime.Round(time.Millisecond), opened.Load(), refusedAtOnce.Load())
	if len(acked) != len(files) {
		t.Errorf("%d of %d instances answered Success", len(acked), len(files))
	}
	if opened.Load() < 200 {
		t.Errorf("only %d stranger connections opened: the flood did not happen", opened.Load())
	}
	d.term(t)

	logs := box.logText(t)
	if !strings.Contains(logs, strangerAddr) {
		t.Errorf("the daemon's log never names the stranger %s: refusals are not reported", strangerAddr)
	}
	if n := strings.Count(logs, "\n"); n > 2000 {
		t.Errorf("%d log lines: refusals are logged per connection", n)
	}

	s, err := cache.Open(box.data, cache.Options{})
	if err != nil {
		t.Fatalf("open the cache after the run: %v", err)
	}
	defer s.Close()
	err = s.View(func(tx *cache.Tx) error {
		records := 0
		if err := tx.AllInstances(func(cache.Instance) error { records++; return nil }); err != nil {
			return err
		}
		if records != len(files) {
			t.Errorf("%d instances recorded, %d sent", records, len(files))
		}
		for _, f := range files {
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
				t.Errorf("%s: not in the cache", filepath.Base(f))
				continue
			}
			stored, err := os.ReadFile(s.Path(in.Path))
			if err != nil {
				t.Errorf("%s: %v", filepath.Base(f), err)
				continue
			}
			px := h.Rows * h.Columns * 2
			if len(stored) < px || !bytes.Equal(stored[len(stored)-px:], src[len(src)-px:]) {
				t.Errorf("%s: stored pixel data differs from what was sent", filepath.Base(f))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
