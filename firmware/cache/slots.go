package cache

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// slotPoolSize is how many empty temporary files are kept ready. An
// association takes one per instance; the filler tops the pool up when it
// is half empty, so one folder sync makes slotPoolSize/2 names durable and
// a burst from several associations rarely finds the pool empty.
const slotPoolSize = 16

// slotPool hands out empty temporary files whose names are already durable:
// the filler creates them and fsyncs the temporary folder once per batch
// before any is handed out. An instance written into one is then durable
// after a single fdatasync of the file, with no folder sync on the way: the
// name it was written under survives a power cut, and Recover finds it there
// if the later rename did not.
type slotPool struct {
	dir    string
	noSync bool
	ready  chan *os.File
	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
	mu     sync.Mutex
	misses int // files created on demand (pool empty)
	err    error
}

func newSlotPool(dir string, noSync bool) *slotPool {
	p := &slotPool{dir: dir, noSync: noSync, ready: make(chan *os.File, slotPoolSize),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go p.fill()
	return p
}

// take returns a durable empty file: one from the pool, or a new one made
// durable on the spot when the pool is empty.
func (p *slotPool) take() (*os.File, error) {
	select {
	case f := <-p.ready:
		if len(p.ready) <= cap(p.ready)/2 {
			poke(p.wake)
		}
		return f, nil
	default:
	}
	poke(p.wake)
	p.mu.Lock()
	p.misses++
	p.mu.Unlock()
	f, err := p.create(1)
	if err != nil {
		return nil, err
	}
	return f[0], nil
}

// create makes n empty files and one folder sync that makes their names
// durable.
func (p *slotPool) create(n int) ([]*os.File, error) {
	fs := make([]*os.File, 0, n)
	for range n {
		f, err := os.CreateTemp(p.dir, "in-*.part")
		if err != nil {
			closeRemove(fs)
			return nil, fmt.Errorf("cache: create temporary file: %w", err)
		}
		fs = append(fs, f)
	}
	if !p.noSync {
		if err := syncDir(p.dir); err != nil {
			closeRemove(fs)
			return nil, err
		}
	}
	return fs, nil
}

func (p *slotPool) fill() {
	defer close(p.done)
	for {
		if want := cap(p.ready) - len(p.ready); want > 0 {
			fs, err := p.create(want)
			p.mu.Lock()
			p.err = err
			p.mu.Unlock()
			for _, f := range fs {
				select {
				case p.ready <- f:
				default: // filled meanwhile by nobody else: cannot happen, but never block
					closeRemove([]*os.File{f})
				}
			}
		}
		select {
		case <-p.stop:
			return
		case <-p.wake:
		}
	}
}

// close stops the filler and removes the unused files.
func (p *slotPool) close() {
	close(p.stop)
	<-p.done
	for {
		select {
		case f := <-p.ready:
			closeRemove([]*os.File{f})
		default:
			return
		}
	}
}

func closeRemove(fs []*os.File) {
	for _, f := range fs {
		f.Close()
		os.Remove(f.Name())
	}
}

// poke wakes a goroutine waiting on c without blocking.
func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// isTemp reports whether a file name in the temporary folder is one of the
// pool's (or an older firmware's) temporary instance files.
func isTemp(name string) bool {
	return filepath.Ext(name) == ".part"
}
