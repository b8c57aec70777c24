// Package serialtest provides in-memory serial ports for tests. Pipe returns
// two connected ends; what one writes the other reads. Writes never block.
// State is in exported fields so tests can look and poke.
package serialtest

import (
	"bytes"
	"sync"

	"metsentry/hal/serial"
)

// Port is one end of an in-memory serial link.
type Port struct {
	// Name is returned by String.
	Name string
	// WriteErr, when set, is returned by every Write (a failed device).
	WriteErr error

	mu      sync.Mutex
	cond    *sync.Cond
	in      bytes.Buffer // bytes waiting to be read from this end
	written bytes.Buffer // every byte written through this end
	closed  bool
	peer    *Port
	halted  bool
}

var _ serial.Port = (*Port)(nil)

// Pipe returns two connected ports.
func Pipe(a, b string) (*Port, *Port) {
	pa := &Port{Name: a}
	pb := &Port{Name: b}
	pa.cond = sync.NewCond(&pa.mu)
	pb.cond = sync.NewCond(&pb.mu)
	pa.peer, pb.peer = pb, pa
	return pa, pb
}

// Read blocks until bytes arrive or either end is closed.
func (p *Port) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.in.Len() == 0 && !p.closed {
		p.cond.Wait()
	}
	if p.closed {
		return 0, serial.ErrClosed
	}
	return p.in.Read(b)
}

// Write hands b to the other end.
func (p *Port) Write(b []byte) (int, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return 0, serial.ErrClosed
	}
	if p.WriteErr != nil {
		err := p.WriteErr
		p.mu.Unlock()
		return 0, err
	}
	p.written.Write(b)
	p.mu.Unlock()
	q := p.peer
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return len(b), nil // like a UART: bytes into the void
	}
	q.in.Write(b)
	q.cond.Broadcast()
	return len(b), nil
}

// Written returns a copy of every byte written through this end.
func (p *Port) Written() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Clone(p.written.Bytes())
}

// Close closes both ends, as unplugging a cable would.
func (p *Port) Close() error {
	p.closeOne()
	p.peer.closeOne()
	return nil
}

func (p *Port) closeOne() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.cond.Broadcast()
}

// Halt closes the port and marks it halted.
func (p *Port) Halt() error {
	p.mu.Lock()
	p.halted = true
	p.mu.Unlock()
	return p.Close()
}

// Halted reports whether Halt was called.
func (p *Port) Halted() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.halted
}

// Closed reports whether this end is closed.
func (p *Port) Closed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// String returns Name.
func (p *Port) String() string { return p.Name }
