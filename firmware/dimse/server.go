package dimse

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// AssociationEnd is how one accepted association ended (Server.Ended).
type AssociationEnd struct {
	Remote netip.AddrPort // the peer's address and port
	// Released says the peer released it. False: it was aborted, broken,
	// timed out or cut by Shutdown, so what it carried may be a part.
	Released bool
	Stored   int // C-STORE requests answered Success
	Refused  int // C-STORE requests answered with any other status
}

// Server is the DICOM SCP: C-ECHO for Verification and C-STORE for MR Image
// Storage and Enhanced MR Image Storage, under a Policy, into a Storage; and
// MPPS N-CREATE and N-SET into Steps when it is set.
type Server struct {
	Policy  Policy
	Storage Storage
	// Logger receives one line per association and per refused instance;
	// nil means slog.Default(). UIDs are logged hashed, never patient data.
	Logger *slog.Logger
	// Clock makes the ARTIM and idle timers; nil means SystemClock.
	Clock Clock
	// Ended, when set, is called once for each accepted association when
	// it ends: on A-RELEASE-RQ after A-RELEASE-RP is sent, or when it is
	// aborted (by either side), broken, timed out or cut by Shutdown. Every
	// Storage.Store of that association has returned by then. It runs on
	// the association's goroutine and must not block for long.
	Ended func(AssociationEnd)
	// Steps, when set, receives Modality Performed Procedure Step N-CREATE
	// and N-SET requests (mpps.go), and the SCP accepts the MPPS SOP class;
	// nil refuses it.
	Steps Steps

	once    sync.Once
	pol     Policy
	mu      sync.Mutex
	active  int // accepted associations
	pending int // connections from allowed addresses not yet accepted or rejected
	// strangers counts negotiating connections from addresses of no
	// allowed peer, strangerAddr the same per address (admission.go).
	strangers    int
	strangerAddr map[netip.Addr]int
	refusals     refusals
	conns        map[net.Conn]struct{}
	lns          map[net.Listener]struct{}
	closing      bool
	wg           sync.WaitGroup
}

func (s *Server) init() {
	s.once.Do(func() {
		s.pol = s.Policy.withDefaults()
		if s.Logger == nil {
			s.Logger = slog.Default()
		}
		if s.Clock == nil {
			s.Clock = SystemClock{}
		}
		s.conns = map[net.Conn]struct{}{}
		s.strangerAddr = map[netip.Addr]int{}
		s.lns = map[net.Listener]struct{}{}
	})
}

// Serve accepts connections on ln until ctx is done or Shutdown is called,
// and returns ErrServerClosed then; associations in progress go on until
// they end or Shutdown's context expires. With Policy.TLS set, connections
// speak TLS.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.init()
	if s.Storage == nil {
		return errors.New("dimse: server has no Storage (set Server.Storage)")
	}
	if s.pol.TLS != nil {
		ln = tls.NewListener(ln, s.pol.TLS)
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing || ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				s.mu.Lock()
				delete(s.lns, ln)
				s.mu.Unlock()
				return ErrServerClosed
			}
			// Out of file descriptors and the like: back off and retry
			// (ln stays listed, so Shutdown still closes it).
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.Logger.Warn("dimse: accept failed", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		// Bound connections that have not finished negotiating, so a flood
		// of idle connections cannot exhaust goroutines and descriptors nor
		// lock out the allowed peers (admission.go).
		addr := addrPort(nc.RemoteAddr()).Addr().Unmap()
		known := s.pol.knownAddr(addr)
		s.mu.Lock()
		ok, why := s.admit(addr, known)
		if ok {
			s.conns[nc] = struct{}{}
			s.wg.Add(1)
		}
		s.mu.Unlock()
		if !ok {
			nc.Close()
			s.refused(addr, why)
			continue
		}
		go s.handle(ctx, nc, known)
	}
}

// Shutdown stops accepting, waits for associations to end until ctx is
// done, then closes the connections of the rest (an instance not yet
// answered is not acknowledged, so its sender will send it again).
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.mu.Lock()
	s.closing = true
	for ln := range s.lns {
		ln.Close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for nc := range s.conns {
		nc.Close()
	}
	s.mu.Unlock()
	<-done
	return ctx.Err()
}

// Active returns the number of accepted associations in progress.
func (s *Server) Active() int {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

// handle runs one connection; known says whether its address is an allowed
// peer's (a stranger's connection has a short timer and is logged only in
// the refusal summaries).
func (s *Server) handle(ctx context.Context, nc net.Conn, known bool) {
	defer s.wg.Done()
	remote := addrPort(nc.RemoteAddr())
	accepted := false
	defer func() {
		nc.Close()
		s.mu.Lock()
		delete(s.conns, nc)
		if accepted {
			s.active--
		} else {
			s.release(remote.Addr().Unmap(), known)
		}
		s.mu.Unlock()
	}()
	log := s.Logger.With("remote", remote.String())
	timer := s.pol.ARTIMTimeout
	if !known {
		timer = s.pol.StrangerTimeout
	}
	c := newConn(nc, s.pol.MaxPDULength)
	c.armTimer(s.Clock, timer)
	defer c.stopTimer()
	if tc, ok := nc.(*tls.Conn); ok {
		tc.SetDeadline(time.Now().Add(timer))
		if err := tc.HandshakeContext(ctx); err != nil {
			if known {
				log.Warn("dimse: TLS handshake failed", "err", err)
			} else {
				s.refused(remote.Addr().Unmap(), "TLS handshake failed")
			}
			return
		}
		tc.SetDeadline(time.Time{})
	}
	p, err := c.readPDU()
	if err != nil {
		if known {
			var pe *PDUError
			if !errors.As(err, &pe) && !errors.Is(err, ErrMalformedCommand) && !errors.Is(err, errTimeout) {
				// Connect and close with nothing said: a port check or a
				// load balancer's probe, not worth a line at info level.
				log.Debug("dimse: connection closed before an association request", "err", err)
				return
			}
			s.abortOnError(c, log, "waiting for A-ASSOCIATE-RQ", err)
		} else {
			s.abortOnError(c, quietLog, "", err) // still answers a broken PDU with A-ABORT
			s.refused(remote.Addr().Unmap(), "no association request")
		}
		return
	}
	rq, ok := p.(*AssociateRQ)
	if !ok {
		if known {
			log.Warn("dimse: first PDU is not an A-ASSOCIATE-RQ", "type", p.Type())
		} else {
			s.refused(remote.Addr().Unmap(), "first PDU is not an A-ASSOCIATE-RQ")
		}
		c.writePDU(&Abort{Source: AbortSourceProvider, Reason: AbortReasonUnexpectedPDU})
		return
	}
	log = log.With("calling_ae", rq.CallingAE, "called_ae", rq.CalledAE)
	rj := s.check(rq, remote.Addr())
	if rj == nil {
		s.mu.Lock()
		if s.active < s.pol.MaxAssociations && !s.closing {
			s.active++
			s.pending--
			accepted = true
		}
		s.mu.Unlock()
		if !accepted {
			rj = &AssociateRJ{Result: RejectTransient, Source: SourceServiceProviderPresentation, Reason: ReasonLocalLimitExceeded}
		}
	}
	if rj != nil {
		if known {
			log.Warn("dimse: association rejected", "result", rj.Result, "source", rj.Source, "reason", rj.Reason)
		} else {
			s.refused(remote.Addr().Unmap(), "association rejected: "+describe(rj))
		}
		if c.writePDU(rj) == nil {
			c.waitClose()
		}
		return
	}
	a := &scpAssoc{s: s, c: c, log: log, rq: rq, remote: remote}
	a.run()
}

// check applies the policy to an A-ASSOCIATE-RQ; nil means acceptable.
func (s *Server) check(rq *AssociateRQ, addr netip.Addr) *AssociateRJ {
	switch {
	case rq.ProtocolVersion&1 == 0:
		return &AssociateRJ{Result: RejectPermanent, Source: SourceServiceProviderACSE, Reason: ReasonProtocolVersionNotSupported}
	case rq.AppContext != ApplicationContext:
		return &AssociateRJ{Result: RejectPermanent, Source: SourceServiceUser, Reason: ReasonAppContextNotSupported}
	case rq.CalledAE != s.pol.AETitle:
		return &AssociateRJ{Result: RejectPermanent, Source: SourceServiceUser, Reason: ReasonCalledAENotRecognized}
	case !s.pol.allowed(rq.CallingAE, addr):
		return &AssociateRJ{Result: RejectPermanent, Source: SourceServiceUser, Reason: ReasonCallingAENotRecognized}
	}
	return nil
}

// abortOnError answers a broken PDU with A-ABORT; timeouts and closed
// connections are only logged.
func (s *Server) abortOnError(c *conn, log *slog.Logger, doing string, err error) {
	var pe *PDUError
	switch {
	case errors.As(err, &pe):
		log.Warn("dimse: malformed PDU, aborting", "while", doing, "err", err)
		c.writePDU(&Abort{Source: AbortSourceProvider, Reason: pe.Reason})
	case errors.Is(err, ErrMalformedCommand):
		log.Warn("dimse: malformed command set, aborting", "while", doing, "err", err)
		c.writePDU(&Abort{Source: AbortSourceProvider, Reason: AbortReasonInvalidParam})
	case errors.Is(err, errTimeout):
		log.Warn("dimse: timer expired, aborting", "while", doing)
		c.writePDU(&Abort{Source: AbortSourceProvider, Reason: AbortReasonNotSpecified})
	default:
		log.Info("dimse: connection ended", "while", doing, "err", err)
	}
}

// waitClose gives the peer up to the ARTIM time to close after a reject or
// release, then closes (PS3.8 §9.2, states Sta13).
func (c *conn) waitClose() {
	for {
		if _, _, err := c.readRaw(); err != nil {
			return
		}
	}
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

func describe(rj *AssociateRJ) string {
	return fmt.Sprintf("result %d source %d reason %d", rj.Result, rj.Source, rj.Reason)
}
