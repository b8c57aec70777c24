package dimse

import (
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// Admission of connections before they have negotiated.
//
// A connection from an address that no allowed peer uses can never become an
// association (the policy fails closed), so such connections get a small
// budget of their own, per address and in all, and a short negotiation
// timer: a flood of idle sockets from anywhere else cannot use up the slots
// the scanner console needs. Refusals are counted; the first is logged at
// once and the rest are summed into one line per interval, so a flood does
// not flood the log too.

// Defaults for Policy's stranger limits.
const (
	DefaultStrangerConnections = 8
	DefaultStrangerPerAddress  = 2
	DefaultStrangerTimeout     = 5 * time.Second
	// refusalInterval is how often refused connections are summed in the log.
	refusalInterval = 10 * time.Second
	// knownSpare is how many negotiating connections from allowed addresses
	// are let in beyond MaxAssociations.
	knownSpare = 16
)

// knownAddr reports whether any allowed peer may use addr.
func (p *Policy) knownAddr(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, ap := range p.AllowedPeers {
		if ap.Prefix.Contains(addr) {
			return true
		}
	}
	return false
}

// admit takes a negotiation slot for a new connection from addr, or says
// why there is none. Called with s.mu held.
func (s *Server) admit(addr netip.Addr, known bool) (ok bool, reason string) {
	switch {
	case s.closing:
		return false, "shutting down"
	case known && s.pending >= s.pol.MaxAssociations+knownSpare:
		return false, "too many connections negotiating"
	case !known && s.strangerAddr[addr] >= s.pol.StrangerPerAddress:
		return false, "not an allowed peer's address, over its per-address budget"
	case !known && s.strangers >= s.pol.StrangerConnections:
		return false, "not an allowed peer's address, over the budget for such addresses"
	}
	if known {
		s.pending++
	} else {
		s.strangers++
		s.strangerAddr[addr]++
	}
	return true, ""
}

// release gives back the slot admit took. Called with s.mu held.
func (s *Server) release(addr netip.Addr, known bool) {
	if known {
		s.pending--
		return
	}
	s.strangers--
	if s.strangerAddr[addr]--; s.strangerAddr[addr] <= 0 {
		delete(s.strangerAddr, addr)
	}
}

// refusals sums refused connections between log lines.
type refusals struct {
	n       int
	addrs   map[netip.Addr]int
	reasons map[string]int
	timer   Timer // armed while a summary is due
}

// refused records a refused or failed connection from a stranger (or a
// refusal at admission). The first after a quiet interval is logged at once;
// later ones are summed until the interval ends.
func (s *Server) refused(addr netip.Addr, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &s.refusals
	if r.timer == nil {
		s.Logger.Warn("dimse: connection refused", "remote", addr.String(), "reason", reason,
			"note", fmt.Sprintf("further refusals are summed every %v", refusalInterval))
		r.timer = s.Clock.AfterFunc(refusalInterval, s.flushRefusals)
		return
	}
	if r.addrs == nil {
		r.addrs, r.reasons = map[netip.Addr]int{}, map[string]int{}
	}
	r.n++
	r.addrs[addr]++
	r.reasons[reason]++
}

// flushRefusals logs the refusals summed since the last line, and keeps
// summing for another interval while they go on.
func (s *Server) flushRefusals() {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &s.refusals
	if r.n == 0 {
		r.timer = nil
		return
	}
	s.Logger.Warn("dimse: connections refused", "count", r.n, "interval", refusalInterval.String(),
		"addresses", topCounts(r.addrs, netip.Addr.String), "reasons", topCounts(r.reasons, func(s string) string { return s }))
	r.n, r.addrs, r.reasons = 0, nil, nil
	r.timer = s.Clock.AfterFunc(refusalInterval, s.flushRefusals)
}

// RefusedConnections returns how many connections have been refused or have
// failed to negotiate from addresses of no allowed peer since the last
// summary line; for tests and status.
func (s *Server) RefusedConnections() int {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refusals.n
}

// topCounts formats the five largest counts of m as "key×n, ...".
func topCounts[K comparable](m map[K]int, str func(K) string) string {
	type kv struct {
		k string
		n int
	}
	var all []kv
	for k, n := range m {
		all = append(all, kv{str(k), n})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n || all[i].n == all[j].n && all[i].k < all[j].k })
	var b strings.Builder
	for i, e := range all {
		if i == 5 {
			fmt.Fprintf(&b, " and %d more", len(all)-5)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s×%d", e.k, e.n)
	}
	return b.String()
}

// quietLog swallows the per-connection lines of strangers, whose refusals
// are summed instead.
var quietLog = slog.New(slog.DiscardHandler)
