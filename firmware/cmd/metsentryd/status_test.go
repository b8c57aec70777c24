package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"github.com/google/go-cmp/cmp"

	"metsentry/firmware/panel"
)

// TestNotifierSendsFaults: systemd's STATUS= line carries the active faults,
// from READY=1 on, and is sent again each time they change.
func TestNotifierSendsFaults(t *testing.T) {
	conn := fakeSystemd(t)
	fb := newFaultBoard()
	fb.SetFault(panel.FaultRuntime, true) // before the SCP listens
	poll := make(chan time.Time)
	n := &notifier{
		send:      func(s string) error { _, err := sd.SdNotify(false, s); return err },
		listening: func() (bool, error) { return true, nil },
		poll:      poll,
		status:    "test",
		log:       quietLog(),
		faults:    fb.Faults,
		changed:   fb.changed,
	}
	<-fb.changed // READY=1 carries this fault: one datagram per change from here on
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.run(ctx) }()
	poll <- time.Time{}
	want := []string{"READY=1\nSTATUS=test; FAULT E0303 inference runtime missing or wrong version"}
	if got := nextDatagram(t, conn); got != want[0] {
		t.Fatalf("first datagram %q, want %q", got, want[0])
	}
	for _, step := range []struct {
		code uint16
		on   bool
		want string
	}{
		{panel.FaultNetwork, true, "STATUS=test; FAULT E0303 inference runtime missing or wrong version, E0401 a DICOM destination cannot be reached"},
		{panel.FaultRuntime, false, "STATUS=test; FAULT E0401 a DICOM destination cannot be reached"},
		{panel.FaultNetwork, false, "STATUS=test"},
	} {
		fb.SetFault(step.code, step.on)
		fb.SetFault(step.code, step.on) // no change: nothing sent
		if got := nextDatagram(t, conn); got != step.want {
			t.Errorf("after fault %04x %v: %q, want %q", step.code, step.on, got, step.want)
		}
	}
	cancel()
	<-done
	if d := cmp.Diff([]string{"STOPPING=1"}, received(t, conn)); d != "" {
		t.Errorf("datagrams at the end (-want +got):\n%s", d)
	}
}

func nextDatagram(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

// waitStatus reads what the daemon tells systemd until a STATUS= line
// satisfies ok, and returns that line.
func waitStatus(t *testing.T, c *net.UnixConn, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var seen []string
	for time.Now().Before(deadline) {
		if err := c.SetReadDeadline(deadline); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		n, err := c.Read(buf)
		if err != nil {
			break
		}
		for _, l := range strings.Split(string(buf[:n]), "\n") {
			if s, found := strings.CutPrefix(l, "STATUS="); found {
				seen = append(seen, s)
				if ok(s) {
					return s
				}
			}
		}
	}
	t.Fatalf("no such STATUS= line from the daemon; it sent %q", seen)
	return ""
}
