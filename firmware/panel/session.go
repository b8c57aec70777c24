package panel

import (
	"time"
)

// Timing of a session. PROTOCOL.md gives the same numbers to panel firmware.
const (
	DefaultHeartbeat   = 250 * time.Millisecond  // send a heartbeat this often
	DefaultPeerTimeout = 1000 * time.Millisecond // peer is gone after this long without a valid frame
	DefaultRetry       = 150 * time.Millisecond  // resend an unacknowledged frame after this long
)

// SessionConfig sets up one end of the link.
type SessionConfig struct {
	Hello       Hello         // what this end says in its Hello; Session is set by Start
	Heartbeat   time.Duration // 0 means DefaultHeartbeat
	PeerTimeout time.Duration // 0 means DefaultPeerTimeout
	Retry       time.Duration // 0 means DefaultRetry
}

// EventKind says what a session Event reports.
type EventKind uint8

// Event kinds.
const (
	EventUp        EventKind = iota + 1 // a valid frame arrived after silence: the peer is there
	EventDown                           // nothing valid from the peer for PeerTimeout
	EventPeerHello                      // the peer started a new session: resend everything it should know
	EventMessage                        // a reliable message (State, Text, Button) arrived once
)

// Event is something the session reports to its user.
type Event struct {
	Kind EventKind
	Msg  Message // the Hello for EventPeerHello, the message for EventMessage
}

// Stats count what a session saw, for the service console.
type Stats struct {
	FramesIn, FramesOut int
	BadFrames           int // failed COBS, length, CRC or payload checks
	Unknown             int // unknown type or version
	Retries             int
	Duplicates          int
	Reconnects          int
}

// Session is the protocol logic of one end of the link, with no I/O and no
// clock of its own: the caller passes the time to every method, writes the
// frames Output returns, and calls Tick by NextDeadline. Link runs one over a
// serial port; tools/panelsim runs the panel's end. Reliable messages are sent
// stop-and-wait: one frame in flight, retried every Retry until acknowledged;
// a newer State or Text replaces one still queued. A Session is not safe for
// concurrent use.
type Session struct {
	cfg SessionConfig

	started   bool
	up        bool
	lastRx    time.Time
	lastHB    time.Time
	txSeq     uint8
	pending   *inflight
	queue     []Message
	rxSeq     uint8 // last reliable seq delivered; 0 = none
	peer      uint16
	peerKnown bool
	peerHello Hello

	out    [][]byte
	events []Event
	stats  Stats
}

type inflight struct {
	seq    uint8
	msg    Message
	wire   []byte
	sentAt time.Time
}

// NewSession returns a session that is not started.
func NewSession(cfg SessionConfig) *Session {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.PeerTimeout <= 0 {
		cfg.PeerTimeout = DefaultPeerTimeout
	}
	if cfg.Retry <= 0 {
		cfg.Retry = DefaultRetry
	}
	if cfg.Hello.MinVersion == 0 {
		cfg.Hello.MinVersion = Version
	}
	if cfg.Hello.MaxVersion == 0 {
		cfg.Hello.MaxVersion = Version
	}
	return &Session{cfg: cfg}
}

// Start begins a new session (at power-on or after the port was reopened):
// everything queued is forgotten, and a Hello with the given session number
// and a heartbeat are sent.
func (s *Session) Start(now time.Time, session uint16) {
	stats := s.stats
	if s.started {
		stats.Reconnects++
	}
	*s = Session{cfg: s.cfg, stats: stats, started: true}
	s.cfg.Hello.Session = session
	s.lastHB = now
	s.emit(Heartbeat{}, 0)
	s.queue = append(s.queue, s.cfg.Hello)
	s.pump(now)
}

// Up reports whether the peer was heard from within PeerTimeout.
func (s *Session) Up() bool { return s.up }

// Peer returns the peer's last Hello and whether one has been received.
func (s *Session) Peer() (Hello, bool) { return s.peerHello, s.peerKnown }

// Stats returns the counters.
func (s *Session) Stats() Stats { return s.stats }

// Busy reports whether a reliable message is in flight or queued.
func (s *Session) Busy() bool { return s.pending != nil || len(s.queue) > 0 }

// Send queues a reliable message. A State or Text replaces one of the same
// type that is queued and not yet in flight, so a slow link shows the newest
// state, not a backlog.
func (s *Session) Send(now time.Time, m Message) {
	switch m.(type) {
	case State, Text:
		for i, q := range s.queue {
			if q.Type() == m.Type() {
				s.queue[i] = m
				s.pump(now)
				return
			}
		}
	}
	s.queue = append(s.queue, m)
	s.pump(now)
}

// Receive handles one encoded frame (without its delimiter).
func (s *Session) Receive(now time.Time, enc []byte) {
	f, err := DecodeFrame(enc)
	if err != nil {
		s.stats.BadFrames++
		return
	}
	m, err := DecodeMessage(f)
	if err != nil {
		if isUnknown(err) {
			s.stats.Unknown++
		} else {
			s.stats.BadFrames++
		}
		return
	}
	s.stats.FramesIn++
	s.lastRx = now
	if !s.up {
		s.up = true
		s.events = append(s.events, Event{Kind: EventUp})
	}
	switch m := m.(type) {
	case Heartbeat:
	case Ack:
		if s.pending != nil && f.Seq == s.pending.seq {
			s.pending = nil
			s.pump(now)
		}
	case Hello:
		s.emit(Ack{}, f.Seq)
		if s.peerKnown && m.Session == s.peer && f.Seq == s.rxSeq {
			s.stats.Duplicates++
			return
		}
		s.peer, s.peerKnown, s.peerHello = m.Session, true, m
		s.rxSeq = f.Seq
		s.events = append(s.events, Event{Kind: EventPeerHello, Msg: m})
	default:
		s.emit(Ack{}, f.Seq)
		if f.Seq == s.rxSeq {
			s.stats.Duplicates++
			return
		}
		s.rxSeq = f.Seq
		s.events = append(s.events, Event{Kind: EventMessage, Msg: m})
	}
}

// Tick sends what is due at now: a heartbeat, a retry; and notices a silent
// peer.
func (s *Session) Tick(now time.Time) {
	if !s.started {
		return
	}
	if s.up && now.Sub(s.lastRx) >= s.cfg.PeerTimeout {
		s.up = false
		s.events = append(s.events, Event{Kind: EventDown})
	}
	if now.Sub(s.lastHB) >= s.cfg.Heartbeat {
		s.lastHB = now
		s.emit(Heartbeat{}, 0)
	}
	if p := s.pending; p != nil && now.Sub(p.sentAt) >= s.cfg.Retry {
		p.sentAt = now
		s.stats.Retries++
		s.stats.FramesOut++
		s.out = append(s.out, p.wire)
	}
}

// NextDeadline is when Tick next has something to do.
func (s *Session) NextDeadline() time.Time {
	d := s.lastHB.Add(s.cfg.Heartbeat)
	if s.pending != nil {
		if r := s.pending.sentAt.Add(s.cfg.Retry); r.Before(d) {
			d = r
		}
	}
	if s.up {
		if t := s.lastRx.Add(s.cfg.PeerTimeout); t.Before(d) {
			d = t
		}
	}
	return d
}

// Output returns, and forgets, the wire bytes of the frames to write, in order.
func (s *Session) Output() [][]byte {
	o := s.out
	s.out = nil
	return o
}

// Events returns, and forgets, what happened since the last call.
func (s *Session) Events() []Event {
	e := s.events
	s.events = nil
	return e
}

func (s *Session) pump(now time.Time) {
	if s.pending != nil || len(s.queue) == 0 {
		return
	}
	m := s.queue[0]
	s.queue = s.queue[1:]
	s.txSeq++
	if s.txSeq == 0 {
		s.txSeq = 1
	}
	f, err := EncodeFrame(m, s.txSeq)
	if err != nil {
		// Only a bad Text gets here; Link checks text before Send. Drop it
		// rather than send what the panel would reject forever.
		s.pump(now)
		return
	}
	w, err := f.AppendWire(nil)
	if err != nil {
		s.pump(now)
		return
	}
	s.pending = &inflight{seq: s.txSeq, msg: m, wire: w, sentAt: now}
	s.stats.FramesOut++
	s.out = append(s.out, w)
}

func (s *Session) emit(m Message, seq uint8) {
	f, err := EncodeFrame(m, seq)
	if err != nil {
		return
	}
	w, err := f.AppendWire(nil)
	if err != nil {
		return
	}
	s.stats.FramesOut++
	s.out = append(s.out, w)
}
