package dimse

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// countingHandler counts log records by message.
type countingHandler struct {
	mu    sync.Mutex
	msgs  map[string]int
	lines []string
	level slog.Level // records below it are not counted
}

func (h *countingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.msgs == nil {
		h.msgs = map[string]int{}
	}
	h.msgs[r.Message]++
	line := r.Message
	r.Attrs(func(a slog.Attr) bool { line += " " + a.String(); return true })
	h.lines = append(h.lines, line)
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

func (h *countingHandler) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.msgs[msg]
}

// dialFrom opens a TCP connection to addr from the loopback address src
// (Linux routes all of 127.0.0.0/8 to lo, so 127.0.0.2 is a second host).
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: testLimit}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitFor polls cond (goroutines of the server make progress on their own;
// no timer of the server waits on this).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *Server) strangerCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.strangers
}

// A flood of idle sockets from addresses that are no allowed peer's must not
// lock the console out, and must not write a log line per socket.
func TestStrangerFloodLeavesConsoleIn(t *testing.T) {
	logs := &countingHandler{}
	clk := &fakeClock{}
	s := &Server{Policy: Policy{AETitle: testAE, AllowedPeers: loopbackPeers, MaxAssociations: 2},
		Storage: DirStorage{Dir: t.TempDir()}, Clock: clk, Logger: slog.New(logs)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		<-done
	})
	addr := ln.Addr().String()

	// 60 idle sockets: 40 from one address, 20 from five others.
	const flood = 60
	for i := range flood {
		src := "127.0.0.2"
		if i >= 40 {
			src = fmt.Sprintf("127.0.0.%d", 3+i%5)
		}
		dialFrom(t, src, addr)
	}
	held := min(DefaultStrangerConnections, DefaultStrangerPerAddress*6)
	waitFor(t, "the flood to be admitted or refused", func() bool {
		return s.strangerCount() == held && s.RefusedConnections() == flood-held-1
	})

	// The console gets in, more than MaxAssociations+... times over, while
	// the strangers hold their whole budget.
	ctx := testCtx(t)
	for i := range 3 {
		a, err := Dial(ctx, addr, testPeer, testAE, append(StorageContexts(MRImageStorage), VerificationContext())...)
		if err != nil {
			t.Fatalf("console association %d during the flood: %v", i, err)
		}
		if err := a.Echo(ctx); err != nil {
			t.Fatal(err)
		}
		if err := a.StoreBytes(ctx, testInstance(fmt.Sprintf("1.2.3.%d", i+1), fmt.Sprintf("1.2.3.%d", i+1), 100)); err != nil {
			t.Fatalf("store during the flood: %v", err)
		}
		if err := a.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.strangerCount(); n != held {
		t.Errorf("strangers holding slots: %d, want %d", n, held)
	}

	// One line at once, then one summary per interval; the held sockets
	// time out on the short stranger timer and join the summary.
	if got := logs.count("dimse: connection refused"); got != 1 {
		t.Errorf("%d immediate refusal lines, want 1", got)
	}
	if got := logs.count("dimse: connections refused"); got != 0 {
		t.Errorf("%d summary lines before the interval ended, want 0", got)
	}
	clk.Advance(DefaultStrangerTimeout)
	waitFor(t, "the held strangers to time out", func() bool { return s.strangerCount() == 0 })
	clk.Advance(refusalInterval)
	if got := logs.count("dimse: connections refused"); got != 1 {
		t.Fatalf("%d summary lines after one interval, want 1:\n%s", got, strings.Join(logs.lines, "\n"))
	}
	var summary string
	for _, l := range logs.lines {
		if strings.HasPrefix(l, "dimse: connections refused") {
			summary = l
		}
	}
	if want := fmt.Sprintf("count=%d", flood-1); !strings.Contains(summary, want) || !strings.Contains(summary, "127.0.0.2×") {
		t.Errorf("summary %q, want %s and the flooding address", summary, want)
	}
	// A quiet interval ends the summing: the next refusal is logged at once.
	clk.Advance(refusalInterval)
	dialFrom(t, "127.0.0.2", addr).Close()
	clk.Advance(DefaultStrangerTimeout)
	waitFor(t, "the next refusal", func() bool { return logs.count("dimse: connection refused") == 2 })
}

func TestAdmitBudgets(t *testing.T) {
	s := &Server{Policy: Policy{AETitle: testAE, AllowedPeers: loopbackPeers, MaxAssociations: 1}}
	s.init()
	known := addrPort(&net.TCPAddr{IP: net.ParseIP("127.0.0.1")}).Addr()
	a, b := addrPort(&net.TCPAddr{IP: net.ParseIP("10.1.1.1")}).Addr(), addrPort(&net.TCPAddr{IP: net.ParseIP("10.1.1.2")}).Addr()
	if s.pol.knownAddr(a) || !s.pol.knownAddr(known) {
		t.Fatal("knownAddr")
	}
	for i := range DefaultStrangerPerAddress {
		if ok, why := s.admit(a, false); !ok {
			t.Fatalf("stranger connection %d refused: %s", i, why)
		}
	}
	if ok, why := s.admit(a, false); ok || !strings.Contains(why, "per-address") {
		t.Errorf("over the per-address budget: ok %v, %q", ok, why)
	}
	for range DefaultStrangerConnections - DefaultStrangerPerAddress {
		s.strangers++ // other addresses
	}
	if ok, why := s.admit(b, false); ok || !strings.Contains(why, "budget for such addresses") {
		t.Errorf("over the total budget: ok %v, %q", ok, why)
	}
	for i := range 1 + knownSpare {
		if ok, why := s.admit(known, true); !ok {
			t.Fatalf("allowed address refused at %d: %s", i, why)
		}
	}
	if ok, _ := s.admit(known, true); ok {
		t.Error("allowed address admitted beyond MaxAssociations+spare")
	}
	s.release(a, false)
	if ok, _ := s.admit(a, false); !ok {
		t.Error("a released slot was not given again")
	}
}

// A peer's address that connects and closes without a word (a port check)
// writes no line at info level, however often.
func TestPortChecksDoNotFillTheLog(t *testing.T) {
	logs := &countingHandler{level: slog.LevelInfo}
	s := &Server{Policy: Policy{AETitle: testAE, AllowedPeers: loopbackPeers},
		Storage: DirStorage{Dir: t.TempDir()}, Clock: &fakeClock{}, Logger: slog.New(logs)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background(), ln) }()
	for range 200 {
		dialFrom(t, "127.0.0.1", ln.Addr().String()).Close()
	}
	// An association afterwards still logs as before, so the log is alive.
	ctx := testCtx(t)
	a, err := Dial(ctx, ln.Addr().String(), testPeer, testAE, VerificationContext())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Shutdown(sctx)
	<-done
	logs.mu.Lock()
	defer logs.mu.Unlock()
	if len(logs.lines) == 0 || len(logs.lines) > 3 {
		t.Errorf("200 port checks and one association wrote %d lines at info or above, want the association's 1-3:\n%s", len(logs.lines), strings.Join(logs.lines, "\n"))
	}
}
