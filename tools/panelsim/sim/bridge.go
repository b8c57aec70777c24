package sim

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// Bridge is a null-modem cable between two pseudo-terminals: what is written
// to one end's device is read from the other's. The sim board uses it for the
// service console: the daemon opens one end (boards/sim.yaml's
// serial.console.device), an engineer's terminal program the other.
type Bridge struct {
	ends  [2]*os.File // masters
	ttys  [2]*os.File // slaves, held open so the masters never see a hang-up
	links [2]string
	wg    sync.WaitGroup
}

// NewBridge makes the two ptys and links them at linkA and linkB.
func NewBridge(linkA, linkB string) (*Bridge, error) {
	b := &Bridge{links: [2]string{linkA, linkB}}
	for i, link := range b.links {
		m, t, err := openPTY()
		if err != nil {
			b.Close()
			return nil, err
		}
		b.ends[i], b.ttys[i] = m, t
		if err := makeRaw(t); err != nil {
			b.Close()
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			b.Close()
			return nil, fmt.Errorf("sim: make the folder of %s: %w", link, err)
		}
		_ = os.Remove(link)
		if err := os.Symlink(t.Name(), link); err != nil {
			b.Close()
			return nil, fmt.Errorf("sim: link %s: %w", link, err)
		}
	}
	for i := range 2 {
		b.wg.Add(1)
		go func(from, to *os.File) {
			defer b.wg.Done()
			_, _ = io.Copy(to, from)
		}(b.ends[i], b.ends[1-i])
	}
	return b, nil
}

// Close removes the links and closes both ends.
func (b *Bridge) Close() error {
	var errs []error
	for i := range 2 {
		if b.links[i] != "" {
			_ = os.Remove(b.links[i])
		}
		if b.ends[i] != nil {
			errs = append(errs, b.ends[i].Close())
		}
		if b.ttys[i] != nil {
			errs = append(errs, b.ttys[i].Close())
		}
	}
	b.wg.Wait()
	return errors.Join(errs...)
}
