package cache

import (
	"fmt"
	"sync"
	"time"
)

// maxBatch bounds the records one index commit holds.
const maxBatch = 512

// indexer records durable instances in the database in batches: one bbolt
// commit (two fdatasyncs) for every instance that arrived while the previous
// commit ran or within Options.IndexDelay, across all associations. Until a
// record is committed it is pending: PutInstance's duplicate check sees it,
// and a crash leaves its file on disk for Recover to adopt.
type indexer struct {
	s     *Store
	delay time.Duration

	mu      sync.Mutex
	pending []pendingRecord
	bySOP   map[string]int // SOP Instance UID -> index into pending
	nextSeq uint64         // sequence of the next record added
	done    uint64         // records with a sequence below this are committed
	lastErr error

	commitMu sync.Mutex // one commit at a time
	kick     chan struct{}
	stop     chan struct{}
	stopped  chan struct{}
}

type pendingRecord struct {
	seq uint64
	in  Instance
	// touch marks a duplicate resent: it moves its series' LastAt and
	// LastRemote (Tx.touchSeries) and records no instance.
	touch bool
}

func newIndexer(s *Store, delay time.Duration) *indexer {
	x := &indexer{s: s, delay: delay, bySOP: map[string]int{}, kick: make(chan struct{}, 1),
		stop: make(chan struct{}), stopped: make(chan struct{})}
	if delay > 0 {
		go x.run()
	} else {
		close(x.stopped)
	}
	return x
}

// add queues a record and returns its sequence.
func (x *indexer) add(in Instance) uint64 { return x.queue(pendingRecord{in: in}) }

// touch queues the resend of a duplicate and returns its sequence.
func (x *indexer) touch(in Instance) uint64 { return x.queue(pendingRecord{in: in, touch: true}) }

func (x *indexer) queue(p pendingRecord) uint64 {
	x.mu.Lock()
	p.seq = x.nextSeq
	x.nextSeq++
	if !p.touch {
		x.bySOP[p.in.SOPInstanceUID] = len(x.pending)
	}
	x.pending = append(x.pending, p)
	x.mu.Unlock()
	poke(x.kick)
	return p.seq
}

// lookup returns the pending record of a SOP instance.
func (x *indexer) lookup(sop string) (Instance, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	i, ok := x.bySOP[sop]
	if !ok {
		return Instance{}, false
	}
	return x.pending[i].in, true
}

// wait returns once the record with sequence seq is committed, committing
// it (and everything pending with it) itself when no commit that holds it
// has run: a group commit.
func (x *indexer) wait(seq uint64) error {
	return x.commitUpTo(seq + 1)
}

// flush commits everything added so far.
func (x *indexer) flush() error {
	x.mu.Lock()
	n := x.nextSeq
	x.mu.Unlock()
	return x.commitUpTo(n)
}

func (x *indexer) commitUpTo(n uint64) error {
	x.commitMu.Lock()
	defer x.commitMu.Unlock()
	for {
		x.mu.Lock()
		if x.done >= n {
			x.mu.Unlock()
			return nil
		}
		batch := x.pending[:min(len(x.pending), maxBatch)]
		batch = batch[:len(batch):len(batch)]
		x.mu.Unlock()
		if err := x.commit(batch); err != nil {
			x.mu.Lock()
			x.lastErr = err
			x.mu.Unlock()
			return err
		}
	}
}

// commit records a batch in one transaction and drops it from pending.
// Called with commitMu held; batch is a prefix of pending.
func (x *indexer) commit(batch []pendingRecord) error {
	if len(batch) == 0 {
		return nil
	}
	err := x.s.Update(func(t *Tx) error {
		for _, p := range batch {
			if p.touch {
				if err := t.touchSeries(p.in); err != nil {
					return err
				}
				continue
			}
			if _, err := t.applyInstance(p.in); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cache: record %d instances: %w", len(batch), err)
	}
	x.mu.Lock()
	x.pending = append(x.pending[:0:0], x.pending[len(batch):]...)
	clear(x.bySOP)
	for i, p := range x.pending {
		if !p.touch {
			x.bySOP[p.in.SOPInstanceUID] = i
		}
	}
	x.done = batch[len(batch)-1].seq + 1
	x.lastErr = nil
	x.mu.Unlock()
	if f := x.s.opt.Indexed; f != nil {
		f()
	}
	return nil
}

// run is the background committer of an asynchronous index: after the
// first record of a batch it waits IndexDelay for more, then commits. A
// failed commit (the database cannot be written) is retried; the records
// stay pending and their files stay on disk.
func (x *indexer) run() {
	defer close(x.stopped)
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		select {
		case <-x.stop:
			return
		case <-x.kick:
		}
		t.Reset(x.delay)
		select {
		case <-x.stop:
			t.Stop()
			return
		case <-t.C:
		}
		if err := x.flush(); err != nil {
			x.s.log.Error("cache: recording received instances failed; they are on disk and retried", "err", err)
			poke(x.kick)
			t.Reset(time.Second)
			select {
			case <-x.stop:
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// close stops the background committer and commits what is pending.
func (x *indexer) close() error {
	select {
	case <-x.stopped:
	default:
		close(x.stop)
		<-x.stopped
	}
	return x.flush()
}

// Flush commits the records of every instance PutInstance has accepted so
// far. With an asynchronous index (Options.IndexDelay > 0) a reader that
// must see the instances just stored calls it first: the daemon does when
// an association is released, before it decides whether a series is
// complete.
func (s *Store) Flush() error {
	return s.idx.flush()
}

// IndexStats is the state of the batched index.
type IndexStats struct {
	Pending int   // accepted instances not yet in the database
	Err     error // the last failed commit, nil once one succeeds
}

// IndexStats reports the batched index's backlog.
func (s *Store) IndexStats() IndexStats {
	s.idx.mu.Lock()
	defer s.idx.mu.Unlock()
	n := 0
	for _, p := range s.idx.pending {
		if !p.touch {
			n++
		}
	}
	return IndexStats{Pending: n, Err: s.idx.lastErr}
}
