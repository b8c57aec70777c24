package sim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"metsentry/firmware/panel"
	"metsentry/hal/clock"
)

// Config sets up a simulator.
type Config struct {
	// Link, when set, is a path kept as a symlink to the pty's slave, e.g.
	// /run/metsentry-sim/panel (boards/sim.yaml). It is removed on Unplug and
	// made again on Replug.
	Link string
	// Display says the simulated panel has a text display (TextWidth 32).
	Display bool
	// Clock drives heartbeats and retries; nil means the system clock.
	Clock clock.Clock
	// Tick is how often the session is ticked; 0 means 10 ms.
	Tick time.Duration
}

// Shown is what the simulated panel shows.
type Shown struct {
	State    panel.State
	Text     string
	HostLost bool // no valid frame from the host for the peer timeout
	Plugged  bool
}

// Sim is a simulated panel MCU on a pseudo-terminal.
type Sim struct {
	cfg Config

	mu        sync.Mutex
	cond      *sync.Cond
	sess      *panel.Session
	master    *os.File
	slave     *os.File
	slavePath string
	gen       int // plug generation; a reader of an older one stops
	shown     Shown
	history   []panel.State
	texts     []string
	dropAcks  int
	dropIn    int
	rng       *rand.Rand
	closed    bool
	raw       []byte // every byte from the host, up to maxRaw
}

// maxRaw bounds the raw bytes kept for Received.
const maxRaw = 1 << 20

// New returns a simulator; call Plug to create its pty.
func New(cfg Config) *Sim {
	if cfg.Clock == nil {
		cfg.Clock = clock.System()
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 10 * time.Millisecond
	}
	s := &Sim{cfg: cfg, rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))}
	s.cond = sync.NewCond(&s.mu)
	s.sess = panel.NewSession(panel.SessionConfig{Hello: s.hello()})
	return s
}

func (s *Sim) hello() panel.Hello {
	h := panel.Hello{Role: panel.RolePanel, MinVersion: panel.Version, MaxVersion: panel.Version, Caps: panel.CapButtons}
	if s.cfg.Display {
		h.Caps |= panel.CapDisplay
		h.TextWidth = panel.MaxText
	}
	return h
}

// Path returns the slave path of the current pty ("" while unplugged): the
// device the host opens.
func (s *Sim) Path() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.slavePath
}

// Plug creates a new pty (a panel plugged in and powered up: it shows
// nothing until the host says what to show) and starts the panel's session.
func (s *Sim) Plug() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", errors.New("sim: closed")
	}
	if s.master != nil {
		return s.slavePath, nil
	}
	m, t, err := openPTY()
	if err != nil {
		return "", err
	}
	if err := makeRaw(t); err != nil {
		m.Close()
		t.Close()
		return "", err
	}
	s.master, s.slave, s.slavePath = m, t, t.Name()
	if s.cfg.Link != "" {
		if err := os.MkdirAll(filepath.Dir(s.cfg.Link), 0o755); err != nil {
			return "", fmt.Errorf("sim: make the folder of link %s: %w", s.cfg.Link, err)
		}
		tmp := s.cfg.Link + ".tmp"
		_ = os.Remove(tmp)
		if err := os.Symlink(s.slavePath, tmp); err != nil {
			return "", fmt.Errorf("sim: link %s to %s: %w", s.cfg.Link, s.slavePath, err)
		}
		if err := os.Rename(tmp, s.cfg.Link); err != nil {
			return "", fmt.Errorf("sim: link %s to %s: %w", s.cfg.Link, s.slavePath, err)
		}
	}
	s.gen++
	s.shown = Shown{Plugged: true, HostLost: true}
	s.sess.Start(s.cfg.Clock.Now(), uint16(s.rng.IntN(0xFFFF)+1))
	s.flushLocked()
	go s.read(m, s.gen)
	s.cond.Broadcast()
	return s.slavePath, nil
}

// Unplug closes the pty as pulling the cable would: the host's reads fail and
// the device path (and Link) disappear.
func (s *Sim) Unplug() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unplugLocked()
}

func (s *Sim) unplugLocked() {
	if s.master == nil {
		return
	}
	if s.cfg.Link != "" {
		_ = os.Remove(s.cfg.Link)
	}
	_ = s.master.Close()
	_ = s.slave.Close()
	s.master, s.slave, s.slavePath = nil, nil, ""
	s.gen++
	s.shown = Shown{}
	s.cond.Broadcast()
}

// Close unplugs the panel and stops the simulator.
func (s *Sim) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unplugLocked()
	s.closed = true
	s.cond.Broadcast()
	return nil
}

// Run ticks the panel's session until ctx is done: heartbeats, retries, and
// noticing a silent host.
func (s *Sim) Run(ctx context.Context) error {
	t := s.cfg.Clock.NewTicker(s.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C():
		}
		s.mu.Lock()
		if s.master != nil {
			s.sess.Tick(s.cfg.Clock.Now())
			s.handleLocked()
		}
		s.mu.Unlock()
	}
}

// Press sends a button press to the host.
func (s *Sim) Press(b panel.ButtonID, long bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sess.Send(s.cfg.Clock.Now(), panel.Button{ID: b, Long: long})
	s.flushLocked()
}

// InjectGarbage writes raw bytes to the host, as line noise would.
func (s *Sim) InjectGarbage(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writeLocked(b)
}

// InjectRandomGarbage writes n random bytes.
func (s *Sim) InjectRandomGarbage(n int) {
	b := make([]byte, n)
	s.mu.Lock()
	for i := range b {
		b[i] = byte(s.rng.IntN(256))
	}
	s.mu.Unlock()
	s.InjectGarbage(b)
}

// DropAcks makes the panel drop the next n ACK frames it would send, so the
// host must retry.
func (s *Sim) DropAcks(n int) {
	s.mu.Lock()
	s.dropAcks += n
	s.mu.Unlock()
}

// DropIncoming makes the panel ignore the next n frames from the host.
func (s *Sim) DropIncoming(n int) {
	s.mu.Lock()
	s.dropIn += n
	s.mu.Unlock()
}

// Shown returns what the panel shows now.
func (s *Sim) Shown() Shown {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shown
}

// History returns every State the panel took, in order, without repeats.
func (s *Sim) History() []panel.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]panel.State(nil), s.history...)
}

// Texts returns every display line the panel took, in order, without repeats.
func (s *Sim) Texts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.texts...)
}

// Received returns every byte the host sent (the first MiB), so tests can
// check what crosses the wire.
func (s *Sim) Received() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.raw...)
}

// Stats returns the panel session's counters.
func (s *Sim) Stats() panel.Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sess.Stats()
}

// WaitFor blocks until cond holds for what the panel shows, or ctx is done.
func (s *Sim) WaitFor(ctx context.Context, cond func(Shown) bool) (Shown, error) {
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for !cond(s.shown) {
		if err := ctx.Err(); err != nil {
			return s.shown, fmt.Errorf("sim: waiting for the panel: %w (panel shows %+v)", err, s.shown)
		}
		s.cond.Wait()
	}
	return s.shown, nil
}

func (s *Sim) read(m *os.File, gen int) {
	var sp panel.Splitter
	buf := make([]byte, 512)
	for {
		n, err := m.Read(buf)
		if n > 0 {
			s.mu.Lock()
			if s.gen != gen {
				s.mu.Unlock()
				return
			}
			if len(s.raw)+n <= maxRaw {
				s.raw = append(s.raw, buf[:n]...)
			}
			sp.Feed(buf[:n], func(enc []byte) {
				if s.dropIn > 0 {
					s.dropIn--
					return
				}
				s.sess.Receive(s.cfg.Clock.Now(), enc)
			})
			s.handleLocked()
			s.mu.Unlock()
		}
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			// EIO: no host has the slave open and ours was closed; keep
			// going while this plug generation lives.
			s.mu.Lock()
			stale := s.gen != gen
			s.mu.Unlock()
			if stale {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// handleLocked applies session events and writes the session's output.
func (s *Sim) handleLocked() {
	changed := false
	for _, ev := range s.sess.Events() {
		switch ev.Kind {
		case panel.EventUp:
			s.shown.HostLost = false
			changed = true
		case panel.EventDown:
			s.shown.HostLost = true
			changed = true
		case panel.EventMessage:
			switch m := ev.Msg.(type) {
			case panel.State:
				s.shown.State = m
				if n := len(s.history); n == 0 || s.history[n-1] != m {
					s.history = append(s.history, m)
				}
				changed = true
			case panel.Text:
				s.shown.Text = m.Line
				if n := len(s.texts); n == 0 || s.texts[n-1] != m.Line {
					s.texts = append(s.texts, m.Line)
				}
				changed = true
			}
		}
	}
	s.flushLocked()
	if changed {
		s.cond.Broadcast()
	}
}

func (s *Sim) flushLocked() {
	for _, w := range s.sess.Output() {
		if s.dropAcks > 0 && isAck(w) {
			s.dropAcks--
			continue
		}
		s.writeLocked(w)
	}
}

func isAck(wire []byte) bool {
	f, err := panel.DecodeFrame(wire[:len(wire)-1])
	return err == nil && f.Type == panel.TypeAck
}

// writeLocked writes to the host; bytes that cannot go within 50 ms are lost,
// as on a UART nobody listens to.
func (s *Sim) writeLocked(b []byte) {
	if s.master == nil {
		return
	}
	_ = s.master.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	_, _ = s.master.Write(b)
}

// makeRaw puts the pty in raw mode so frames pass unchanged and nothing is
// echoed back.
func makeRaw(t *os.File) error {
	rc, err := t.SyscallConn()
	if err != nil {
		return fmt.Errorf("sim: raw mode: %w", err)
	}
	var ierr error
	err = rc.Control(func(fd uintptr) {
		tio, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			ierr = err
			return
		}
		tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		tio.Oflag &^= unix.OPOST
		tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		tio.Cflag &^= unix.CSIZE | unix.PARENB
		tio.Cflag |= unix.CS8
		tio.Cc[unix.VMIN] = 1
		tio.Cc[unix.VTIME] = 0
		ierr = unix.IoctlSetTermios(int(fd), unix.TCSETS, tio)
	})
	if err == nil {
		err = ierr
	}
	if err != nil {
		return fmt.Errorf("sim: raw mode: %w", err)
	}
	return nil
}
