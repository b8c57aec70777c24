package panel

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// pair is a host and a panel session wired back to back. drop decides, per
// frame, whether the wire loses it.
type pair struct {
	host, panel *Session
	hostEv      []Event
	panelEv     []Event
	drop        func(fromHost bool, f Frame) bool
}

func newPair(t *testing.T) *pair {
	p := &pair{
		host:  NewSession(SessionConfig{Hello: Hello{Role: RoleHost}}),
		panel: NewSession(SessionConfig{Hello: Hello{Role: RolePanel, Caps: CapDisplay, TextWidth: 32}}),
	}
	p.host.Start(t0, 0x1111)
	p.panel.Start(t0, 0x2222)
	p.settle(t0)
	return p
}

// settle moves frames both ways until neither side has anything to send.
func (p *pair) settle(now time.Time) {
	for range 100 {
		moved := false
		for _, dir := range []struct {
			from, to *Session
			fromHost bool
		}{{p.host, p.panel, true}, {p.panel, p.host, false}} {
			for _, w := range dir.from.Output() {
				moved = true
				f, _ := DecodeFrame(w[:len(w)-1])
				if p.drop != nil && p.drop(dir.fromHost, f) {
					continue
				}
				dir.to.Receive(now, w[:len(w)-1])
			}
		}
		p.hostEv = append(p.hostEv, p.host.Events()...)
		p.panelEv = append(p.panelEv, p.panel.Events()...)
		if !moved {
			return
		}
	}
	panic("sessions never settle")
}

func messages(evs []Event) []Message {
	var out []Message
	for _, e := range evs {
		if e.Kind == EventMessage {
			out = append(out, e.Msg)
		}
	}
	return out
}

func kinds(evs []Event) []EventKind {
	var out []EventKind
	for _, e := range evs {
		out = append(out, e.Kind)
	}
	return out
}

func TestSessionHandshake(t *testing.T) {
	p := newPair(t)
	if !p.host.Up() || !p.panel.Up() {
		t.Fatal("sessions not up after exchanging hellos")
	}
	if diff := cmp.Diff([]EventKind{EventUp, EventPeerHello}, kinds(p.hostEv)); diff != "" {
		t.Errorf("host events (-want +got):\n%s", diff)
	}
	if h, ok := p.host.Peer(); !ok || h.TextWidth != 32 || h.Session != 0x2222 {
		t.Errorf("host's view of the panel = %+v %v", h, ok)
	}
	if p.host.Busy() || p.panel.Busy() {
		t.Error("a hello is still unacknowledged")
	}
}

func TestSessionDeliversOnceDespiteLostAcks(t *testing.T) {
	p := newPair(t)
	p.panelEv = nil
	lost := 2
	p.drop = func(fromHost bool, f Frame) bool {
		if !fromHost && f.Type == TypeAck && lost > 0 {
			lost--
			return true
		}
		return false
	}
	now := t0
	p.host.Send(now, State{Show: Positive, Count: 4})
	p.settle(now)
	for range 5 {
		now = now.Add(DefaultRetry)
		p.host.Tick(now)
		p.panel.Tick(now)
		p.settle(now)
	}
	if diff := cmp.Diff([]Message{State{Show: Positive, Count: 4}}, messages(p.panelEv)); diff != "" {
		t.Errorf("panel got (-want +got):\n%s", diff)
	}
	if st := p.host.Stats(); st.Retries != 2 {
		t.Errorf("host retries = %d, want 2", st.Retries)
	}
	if st := p.panel.Stats(); st.Duplicates != 2 {
		t.Errorf("panel duplicates = %d, want 2", st.Duplicates)
	}
	if p.host.Busy() {
		t.Error("host still waits for an ack")
	}
}

func TestSessionRetryTiming(t *testing.T) {
	p := newPair(t)
	p.drop = func(bool, Frame) bool { return true } // the cable is cut
	p.host.Send(t0, State{Show: Receiving})
	p.settle(t0)
	p.host.Tick(t0.Add(DefaultRetry - time.Millisecond))
	if n := countType(p.host.Output(), TypeState); n != 0 {
		t.Errorf("state resent %d times before the retry interval", n)
	}
	if got := p.host.NextDeadline(); got.After(t0.Add(DefaultRetry)) {
		t.Errorf("next deadline %v is after the retry time", got.Sub(t0))
	}
	p.host.Tick(t0.Add(DefaultRetry))
	if n := countType(p.host.Output(), TypeState); n != 1 {
		t.Errorf("state resent %d times at the retry interval, want 1", n)
	}
}

func countType(ws [][]byte, typ Type) int {
	n := 0
	for _, w := range ws {
		if f, err := DecodeFrame(w[:len(w)-1]); err == nil && f.Type == typ {
			n++
		}
	}
	return n
}

func TestSessionPeerTimeoutAndReturn(t *testing.T) {
	p := newPair(t)
	p.hostEv = nil
	p.drop = func(fromHost bool, _ Frame) bool { return !fromHost } // the panel goes quiet
	now := t0
	for now.Sub(t0) < DefaultPeerTimeout+DefaultHeartbeat {
		now = now.Add(50 * time.Millisecond)
		p.host.Tick(now)
		p.panel.Tick(now)
		p.settle(now)
		if now.Sub(t0) < DefaultPeerTimeout && !p.host.Up() {
			t.Fatalf("host saw the panel down after only %v", now.Sub(t0))
		}
	}
	if p.host.Up() {
		t.Fatal("host still sees the panel up after the timeout")
	}
	p.drop = nil
	now = now.Add(DefaultHeartbeat)
	p.panel.Tick(now)
	p.settle(now)
	if diff := cmp.Diff([]EventKind{EventDown, EventUp}, kinds(p.hostEv)); diff != "" {
		t.Errorf("host events (-want +got):\n%s", diff)
	}
}

func TestSessionCoalescesQueuedState(t *testing.T) {
	p := newPair(t)
	p.panelEv = nil
	blocked := true
	p.drop = func(fromHost bool, f Frame) bool { return blocked && !fromHost && f.Type == TypeAck }
	now := t0
	p.host.Send(now, State{Show: Receiving})
	p.host.Send(now, State{Show: Processing})
	p.host.Send(now, Text{Line: "ANALYSING"})
	p.host.Send(now, State{Show: Negative})
	p.settle(now)
	blocked = false
	for range 4 {
		now = now.Add(DefaultRetry)
		p.host.Tick(now)
		p.settle(now)
	}
	want := []Message{State{Show: Receiving}, State{Show: Negative}, Text{Line: "ANALYSING"}}
	if diff := cmp.Diff(want, messages(p.panelEv)); diff != "" {
		t.Errorf("panel got (-want +got):\n%s", diff)
	}
}

func TestSessionPeerRestart(t *testing.T) {
	p := newPair(t)
	p.host.Send(t0, State{Show: Processing})
	p.settle(t0)
	p.hostEv, p.panelEv = nil, nil
	// The panel reboots: a new session whose first reliable seq repeats
	// one the host has seen.
	p.panel.Start(t0, 0x3333)
	p.settle(t0)
	if diff := cmp.Diff([]EventKind{EventPeerHello}, kinds(p.hostEv)); diff != "" {
		t.Errorf("host events after the panel restarted (-want +got):\n%s", diff)
	}
	p.panel.Send(t0, Button{ID: ButtonAck})
	p.settle(t0)
	if diff := cmp.Diff([]Message{Button{ID: ButtonAck}}, messages(p.hostEv)); diff != "" {
		t.Errorf("host got (-want +got):\n%s", diff)
	}
	if st := p.panel.Stats(); st.Reconnects != 1 {
		t.Errorf("panel reconnects = %d, want 1", st.Reconnects)
	}
}

func TestSessionCountsBadFrames(t *testing.T) {
	s := NewSession(SessionConfig{Hello: Hello{Role: RoleHost}})
	s.Start(t0, 1)
	s.Receive(t0, []byte{0x05, 1, 2, 3, 4})
	s.Receive(t0, wire(9, byte(TypeHeartbeat), 0))
	s.Receive(t0, wire(1, 0x66, 0))
	if st := s.Stats(); st.BadFrames != 1 || st.Unknown != 2 || st.FramesIn != 0 {
		t.Errorf("stats = %+v, want 1 bad and 2 unknown", st)
	}
	if s.Up() {
		t.Error("bad frames brought the link up")
	}
}

func TestLinkStatusString(t *testing.T) {
	tests := []struct {
		s    LinkStatus
		want string
	}{
		{LinkStatus{Device: "/dev/ttyUSB0", LastError: "serial: open /dev/ttyUSB0 at 115200 baud: no such file or directory"},
			"port not open: serial: open /dev/ttyUSB0 at 115200 baud: no such file or directory (/dev/ttyUSB0); 0 reconnects, 0 retries, 0 bad frames"},
		{LinkStatus{Device: "/dev/ttyTHS1", Open: true}, "no answer from the panel (/dev/ttyTHS1); 0 reconnects, 0 retries, 0 bad frames"},
		{LinkStatus{Device: "/dev/ttyTHS1", Open: true, Up: true, Peer: Hello{MaxVersion: 1, Caps: CapDisplay}, Stats: Stats{Retries: 3, Reconnects: 1}},
			"up, panel v1 with display (/dev/ttyTHS1); 1 reconnects, 3 retries, 0 bad frames"},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("String = %q, want %q", got, tt.want)
		}
	}
}
