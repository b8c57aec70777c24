package panel

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"metsentry/hal/clock"
	"metsentry/hal/serial"
)

// DefaultReopen is how long Link waits before reopening a port that failed or
// is missing.
const DefaultReopen = 200 * time.Millisecond

// LinkConfig sets up the host end of the panel link.
type LinkConfig struct {
	Device string         // serial device of the panel MCU, from the board file
	Baud   int            // from the board file
	Open   serial.Opener  // serial.Open in production
	Clock  clock.Clock    // clock.System() in production
	Logger *slog.Logger   // nil means slog.Default()
	Reopen time.Duration  // 0 means DefaultReopen
	Timing SessionConfig  // heartbeat, timeout and retry; Hello is filled in by Link
	Button func(b Button) // called from Link's goroutine on each button press; may be nil
}

// LinkStatus is a snapshot for the service console.
type LinkStatus struct {
	Device    string
	Open      bool // the port is open
	Up        bool // the panel answers
	Peer      Hello
	PeerKnown bool
	Stats     Stats
	LastError string
}

// Link is the host end of the panel link: it keeps the serial port open
// (reopening it when the MCU is unplugged and plugged back), runs a Session
// over it, and makes the panel show the latest View. After a reconnect, or
// when the panel says Hello, the current View is sent again. Link is a
// Display; Show may be called from any goroutine.
type Link struct {
	cfg  LinkConfig
	kick chan struct{}

	mu     sync.Mutex
	view   View
	status LinkStatus
}

var _ Display = (*Link)(nil)

// NewLink returns a link; Run drives it.
func NewLink(cfg LinkConfig) *Link {
	if cfg.Clock == nil {
		cfg.Clock = clock.System()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Reopen <= 0 {
		cfg.Reopen = DefaultReopen
	}
	cfg.Timing.Hello = Hello{Role: RoleHost, MinVersion: Version, MaxVersion: Version}
	if cfg.Timing.PeerTimeout <= 0 {
		cfg.Timing.PeerTimeout = DefaultPeerTimeout
	}
	return &Link{cfg: cfg, kick: make(chan struct{}, 1), view: View{Show: Idle}, status: LinkStatus{Device: cfg.Device}}
}

// Show makes the panel show v as soon as the link allows. It never blocks.
func (l *Link) Show(v View) error {
	if v.Text != "" {
		if err := CheckText(v.Text); err != nil {
			return err
		}
	}
	l.mu.Lock()
	l.view = v
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
	return nil
}

// String names the link.
func (l *Link) String() string { return "panel link " + l.cfg.Device }

// Status returns a snapshot of the link.
func (l *Link) Status() LinkStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status
}

// Run keeps the link going until ctx is done. It returns ctx's error.
func (l *Link) Run(ctx context.Context) error {
	sess := NewSession(l.cfg.Timing)
	var lastErr string
	for {
		port, err := l.cfg.Open(l.cfg.Device, l.cfg.Baud)
		if err != nil {
			if err.Error() != lastErr {
				l.cfg.Logger.Warn("panel: cannot open the panel port; retrying", "device", l.cfg.Device, "err", err)
				lastErr = err.Error()
			}
			l.setStatus(func(s *LinkStatus) { s.Open, s.Up, s.LastError = false, false, err.Error() })
		} else {
			lastErr = ""
			l.cfg.Logger.Info("panel: port open", "port", port.String())
			err = l.serve(ctx, port, sess)
			_ = port.Close()
			if ctx.Err() != nil {
				_ = port.Halt()
				l.setStatus(func(s *LinkStatus) { s.Open, s.Up = false, false })
				return ctx.Err()
			}
			l.cfg.Logger.Warn("panel: link lost; reopening", "port", port.String(), "err", err)
			l.setStatus(func(s *LinkStatus) { s.Open, s.Up, s.LastError = false, false, err.Error() })
		}
		t := l.cfg.Clock.NewTimer(l.cfg.Reopen)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C():
		}
	}
}

func (l *Link) setStatus(f func(*LinkStatus)) {
	l.mu.Lock()
	f(&l.status)
	l.mu.Unlock()
}

// serve runs a session on an open port until the port fails or ctx is done.
func (l *Link) serve(ctx context.Context, port serial.Port, sess *Session) error {
	frames := make(chan []byte, 32)
	readErr := make(chan error, 1)
	done := make(chan struct{})
	defer close(done)
	go func() {
		var sp Splitter
		buf := make([]byte, 256)
		for {
			n, err := port.Read(buf)
			sp.Feed(buf[:n], func(enc []byte) {
				select {
				case frames <- append([]byte(nil), enc...):
				case <-done:
				}
			})
			if err != nil {
				readErr <- err
				return
			}
		}
	}()

	clk := l.cfg.Clock
	sess.Start(clk.Now(), newSessionID())
	l.setStatus(func(s *LinkStatus) { s.Open, s.LastError = true, "" })
	var sent View
	sentOnce := false
	sendView := func(now time.Time, force bool) {
		l.mu.Lock()
		v := l.view
		l.mu.Unlock()
		if !force && sentOnce && v == sent {
			return
		}
		if force || !sentOnce || v.Show != sent.Show || v.Count != sent.Count || v.Code != sent.Code {
			sess.Send(now, State{Show: v.Show, Count: v.Count, Code: v.Code})
		}
		if p, ok := sess.Peer(); ok && p.Caps&CapDisplay != 0 && (force || !sentOnce || v.Text != sent.Text) {
			sess.Send(now, Text{Line: v.Text})
		}
		sent, sentOnce = v, true
	}
	sendView(clk.Now(), true)

	timer := clk.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := clk.Now()
		for _, ev := range sess.Events() {
			switch ev.Kind {
			case EventUp:
				l.cfg.Logger.Info("panel: panel answers", "port", port.String())
				sendView(now, true)
			case EventDown:
				l.cfg.Logger.Warn("panel: panel silent", "port", port.String(), "timeout", l.cfg.Timing.PeerTimeout)
			case EventPeerHello:
				h := ev.Msg.(Hello)
				l.cfg.Logger.Info("panel: panel said hello", "caps", h.Caps, "text_width", h.TextWidth, "version", h.MaxVersion)
				sendView(now, true)
			case EventMessage:
				if b, ok := ev.Msg.(Button); ok && l.cfg.Button != nil {
					l.cfg.Button(b)
				}
			}
		}
		for _, w := range sess.Output() {
			if _, err := port.Write(w); err != nil {
				return fmt.Errorf("panel: write: %w", err)
			}
		}
		peer, known := sess.Peer()
		l.setStatus(func(s *LinkStatus) { s.Up, s.Peer, s.PeerKnown, s.Stats = sess.Up(), peer, known, sess.Stats() })
		timer.Reset(max(sess.NextDeadline().Sub(now), 0))

		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-readErr:
			return err
		case enc := <-frames:
			sess.Receive(clk.Now(), enc)
		case <-timer.C():
			sess.Tick(clk.Now())
		case <-l.kick:
			sendView(clk.Now(), false)
		}
	}
}

// newSessionID picks a random non-zero session number so the panel can tell a
// new host session from a retransmitted Hello.
func newSessionID() uint16 {
	var b [2]byte
	for {
		_, _ = rand.Read(b[:])
		if v := binary.BigEndian.Uint16(b[:]); v != 0 {
			return v
		}
	}
}

// String sums the link up for the service console, e.g.
// "up, panel v1 with display (/dev/ttyTHS1); 12 retries, 0 bad frames".
func (s LinkStatus) String() string {
	var state string
	switch {
	case !s.Open:
		state = "port not open"
		if s.LastError != "" {
			state += ": " + s.LastError
		}
	case !s.Up:
		state = "no answer from the panel"
	default:
		state = fmt.Sprintf("up, panel v%d", s.Peer.MaxVersion)
		if s.Peer.Caps&CapDisplay != 0 {
			state += " with display"
		}
	}
	return fmt.Sprintf("%s (%s); %d reconnects, %d retries, %d bad frames", state, s.Device, s.Stats.Reconnects, s.Stats.Retries, s.Stats.BadFrames)
}
