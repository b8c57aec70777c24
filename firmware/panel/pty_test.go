//go:build linux

package panel_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"metsentry/firmware/panel"
	"metsentry/firmware/testenv"
	"metsentry/hal/serial"
	"metsentry/tools/panelsim/sim"
)

// patientValues returns the name, ID and birth date of a real test study.
func patientValues(t *testing.T) []string {
	t.Helper()
	dir := testenv.SharedData(t, "dicom", "philips-mprage-sag3d")
	ds, err := dicom.ParseFile(filepath.Join(dir, "1301_0001.dcm"), nil, dicom.SkipPixelData())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tg := range []tag.Tag{tag.PatientName, tag.PatientID, tag.PatientBirthDate} {
		el, err := ds.FindElementByTag(tg)
		if err != nil {
			t.Fatal(err)
		}
		v := dicom.MustGetStrings(el.Value)
		if len(v) == 0 || v[0] == "" {
			t.Fatalf("the test study has no %v", tg)
		}
		out = append(out, v[0])
	}
	return out
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// rig is a Link and Machine on the host side and a simulated panel on a pty.
type rig struct {
	sim     *sim.Sim
	link    *panel.Link
	machine *panel.Machine
	buttons chan panel.Button
	display bool
}

func newRig(t *testing.T, display bool) *rig {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	path := filepath.Join(t.TempDir(), "panel")
	s := sim.New(sim.Config{Link: path, Display: display})
	if _, err := s.Plug(); err != nil {
		t.Fatal(err)
	}
	r := &rig{sim: s, buttons: make(chan panel.Button, 8), display: display}
	r.link = panel.NewLink(panel.LinkConfig{
		Device: path, Baud: 115200, Open: serial.Open,
		Logger: discard,
		Button: func(b panel.Button) { r.buttons <- b },
	})
	r.machine = panel.NewMachine(ctx, panel.MachineConfig{Displays: []panel.Display{r.link}, Logger: discard})
	done := make(chan struct{}, 2)
	go func() { _ = s.Run(ctx); done <- struct{}{} }()
	go func() { _ = r.link.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() {
		cancel()
		<-done
		<-done
		s.Close()
	})
	return r
}

// waitShow waits until the panel shows want, within limit.
// With a display it also waits for the display line the machine sets for it.
func (r *rig) waitShow(t *testing.T, want panel.State, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	text := r.machine.Current().Text
	if _, err := r.sim.WaitFor(ctx, func(s sim.Shown) bool {
		return s.State == want && !s.HostLost && (!r.display || s.Text == text)
	}); err != nil {
		t.Fatalf("panel did not show %+v within %v: %v", want, limit, err)
	}
	return time.Since(start)
}

func TestPTYStudySequences(t *testing.T) {
	tests := []struct {
		name    string
		lesions int
		want    []panel.State
		texts   []string
	}{
		{"positive", 3,
			[]panel.State{{Show: panel.Idle}, {Show: panel.Receiving}, {Show: panel.Processing}, {Show: panel.Positive, Count: 3}, {Show: panel.Idle}},
			[]string{"READY", "RECEIVING", "ANALYSING", "POSITIVE: 3 LESIONS", "READY"}},
		{"negative", 0,
			[]panel.State{{Show: panel.Idle}, {Show: panel.Receiving}, {Show: panel.Processing}, {Show: panel.Negative}, {Show: panel.Idle}},
			[]string{"READY", "RECEIVING", "ANALYSING", "NEGATIVE: NO LESION", "READY"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, true)
			r.waitShow(t, panel.State{Show: panel.Idle}, 3*time.Second)
			r.machine.Receiving()
			r.waitShow(t, panel.State{Show: panel.Receiving}, 2*time.Second)
			r.machine.Processing()
			r.waitShow(t, panel.State{Show: panel.Processing}, 2*time.Second)
			r.machine.Result(tt.lesions)
			r.waitShow(t, tt.want[3], 2*time.Second)
			// The technologist presses acknowledge on the panel.
			r.sim.Press(panel.ButtonAck, false)
			select {
			case b := <-r.buttons:
				r.machine.Button(b)
			case <-time.After(2 * time.Second):
				t.Fatal("host got no button press within 2s")
			}
			r.waitShow(t, panel.State{Show: panel.Idle}, 2*time.Second)
			if diff := cmp.Diff(tt.want, r.sim.History()); diff != "" {
				t.Errorf("LED states (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.texts, r.sim.Texts()); diff != "" {
				t.Errorf("display lines (-want +got):\n%s", diff)
			}
			// Nothing of the study's patient crosses the wire.
			wire := r.sim.Received()
			for _, v := range patientValues(t) {
				if bytes.Contains(wire, []byte(v)) {
					t.Errorf("panel wire carries patient data %q", v)
				}
			}
		})
	}
}

func TestPTYRecovery(t *testing.T) {
	const bound = 2 * time.Second
	tests := []struct {
		name   string
		inject func(r *rig)
	}{
		{"corrupted frames", func(r *rig) {
			// Line noise, a frame with a bad CRC, an overlong run, and a
			// truncated frame, between real frames.
			r.sim.InjectGarbage([]byte{0x00, 0x13, 0x37, 0x00, 0x05, 0x01, 0x10, 0x09, 0x04, 0x00})
			r.sim.InjectRandomGarbage(300)
			r.sim.InjectGarbage([]byte{0})
			r.sim.DropIncoming(1) // the panel also misses the next frame from the host
		}},
		{"dropped acks", func(r *rig) { r.sim.DropAcks(3) }},
		{"unplug and replug", func(r *rig) {
			r.sim.Unplug()
			time.Sleep(300 * time.Millisecond) // the cable is out for a while
			if _, err := r.sim.Plug(); err != nil {
				panic(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, true)
			r.machine.Processing()
			r.waitShow(t, panel.State{Show: panel.Processing}, 3*time.Second)
			tt.inject(r)
			start := time.Now()
			r.machine.Result(2)
			r.waitShow(t, panel.State{Show: panel.Positive, Count: 2}, bound)
			took := time.Since(start)
			t.Logf("recovered in %v (host %+v, panel %+v)", took, r.link.Status().Stats, r.sim.Stats())
			if took > bound {
				t.Errorf("recovery took %v, want at most %v", took, bound)
			}
			// The link stays healthy after the fault.
			r.machine.Result(0)
			r.waitShow(t, panel.State{Show: panel.Negative}, bound)
		})
	}
}

func TestPTYReplugResendsState(t *testing.T) {
	r := newRig(t, false)
	r.machine.Result(7)
	r.waitShow(t, panel.State{Show: panel.Positive, Count: 7}, 3*time.Second)
	r.sim.Unplug()
	// A replugged panel boots blank; the host must tell it again without any
	// new event from the daemon.
	start := time.Now()
	if _, err := r.sim.Plug(); err != nil {
		t.Fatal(err)
	}
	if r.sim.Shown().State != (panel.State{}) {
		t.Fatalf("a freshly plugged panel shows %+v, want nothing", r.sim.Shown().State)
	}
	took := r.waitShow(t, panel.State{Show: panel.Positive, Count: 7}, 2*time.Second)
	t.Logf("state back on the panel %v after replug (%v since unplug)", took, time.Since(start))
	if st := r.link.Status(); !st.Up || st.Stats.Reconnects < 1 {
		t.Errorf("link status after replug = %+v, want up with a reconnect counted", st)
	}
}

// TestPTYPanelNoticesSilentHost checks the heartbeat from host to panel: when
// the daemon stops, the panel shows its own fault within the peer timeout,
// and a restarted daemon puts the state back.
func TestPTYPanelNoticesSilentHost(t *testing.T) {
	path := filepath.Join(t.TempDir(), "panel")
	s := sim.New(sim.Config{Link: path})
	if _, err := s.Plug(); err != nil {
		t.Fatal(err)
	}
	simCtx, stopSim := context.WithCancel(context.Background())
	simDone := make(chan struct{})
	go func() { _ = s.Run(simCtx); close(simDone) }()
	t.Cleanup(func() { stopSim(); <-simDone; s.Close() })

	startHost := func() (*panel.Machine, func()) {
		ctx, cancel := context.WithCancel(context.Background())
		l := panel.NewLink(panel.LinkConfig{Device: path, Baud: 115200, Open: serial.Open, Logger: discard})
		m := panel.NewMachine(ctx, panel.MachineConfig{Displays: []panel.Display{l}, Logger: discard})
		done := make(chan struct{})
		go func() { _ = l.Run(ctx); close(done) }()
		return m, func() { cancel(); <-done }
	}
	wait := func(what string, limit time.Duration, cond func(sim.Shown) bool) time.Duration {
		t.Helper()
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), limit)
		defer cancel()
		if _, err := s.WaitFor(ctx, cond); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return time.Since(start)
	}
	m, stop := startHost()
	m.Result(4)
	want := panel.State{Show: panel.Positive, Count: 4}
	wait("first state", 3*time.Second, func(v sim.Shown) bool { return v.State == want && !v.HostLost })
	stop()
	took := wait("host lost", 3*time.Second, func(v sim.Shown) bool { return v.HostLost })
	t.Logf("panel noticed the silent host after %v", took)
	if took < panel.DefaultPeerTimeout/2 {
		t.Errorf("panel gave up on the host after only %v", took)
	}
	m, stop = startHost()
	defer stop()
	m.Result(6)
	want = panel.State{Show: panel.Positive, Count: 6}
	took = wait("state after host restart", 2*time.Second, func(v sim.Shown) bool { return v.State == want && !v.HostLost })
	t.Logf("state back %v after the host restarted", took)
}
