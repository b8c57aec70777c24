package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the database layout this firmware writes. Open migrates
// any older layout up to it (migrate.go).
const SchemaVersion = 4

// File and folder names inside the store folder.
const (
	DBFile      = "cache.db"
	InstanceDir = "instances"
	TempDir     = "tmp"
)

var (
	bucketMeta      = []byte("meta")
	bucketInstances = []byte("instances")  // (study, series, sop) -> Instance
	bucketSOPs      = []byte("sops")       // (sop) -> instance key
	bucketSeries    = []byte("series")     // (study, series) -> Series
	bucketStudies   = []byte("studies")    // (study) -> Study
	bucketJobs      = []byte("jobs")       // (id) -> Job
	bucketOutbox    = []byte("outbox")     // (id) -> OutboxEntry
	bucketAudit     = []byte("audit")      // (seq) -> AuditEvent
	bucketDelivery  = []byte("deliveries") // (id) -> Delivery (schema 3)
	bucketReleases  = []byte("releases")   // (remote) -> Release (schema 4)
	bucketSteps     = []byte("steps")      // (step uid) -> Step (schema 4)
	keySchema       = []byte("schema")
	allBuckets      = [][]byte{bucketMeta, bucketInstances, bucketSOPs, bucketSeries,
		bucketStudies, bucketJobs, bucketOutbox, bucketAudit, bucketDelivery, bucketReleases, bucketSteps}
)

// Options tune a Store. The zero value is usable.
type Options struct {
	// OpenTimeout bounds the wait for the database lock (default 2s).
	OpenTimeout time.Duration
	// MinFreeBytes is the low free-space watermark: below it CreateTemp and
	// PutInstance fail with ErrDiskFull. 0 disables the check.
	MinFreeBytes uint64
	// Now is the clock (default time.Now).
	Now func() time.Time
	// FreeSpace reports free and total bytes of the file system holding dir
	// (default: statfs). Tests replace it to simulate a full disk.
	FreeSpace func(dir string) (free, total uint64, err error)
	// Logger receives recovery and retention messages (default slog.Default).
	Logger *slog.Logger
	// NoSync skips every fsync (files, folders and the database). For tests
	// of other packages only: a crash can then lose acknowledged instances.
	NoSync bool
	// IndexDelay, when positive, makes the index asynchronous: PutInstance
	// returns once the instance file is durable (one fdatasync), and its
	// record is committed with the others that arrive within IndexDelay
	// (one bbolt commit per batch). Until then Recover would adopt the file
	// after a crash, and Flush commits at once. Zero (the default) commits
	// each record before PutInstance returns, sharing the commit with
	// concurrent callers.
	IndexDelay time.Duration
	// Indexed, when set, is called after each batch of records is
	// committed (the daemon wakes intake with it).
	Indexed func()
}

// Store is an open cache. Its methods are safe for concurrent use.
type Store struct {
	dir  string
	db   *bolt.DB
	opt  Options
	log  *slog.Logger
	mu   sync.Mutex // guards closed
	rec  Recovery
	done bool
	pool *slotPool
	idx  *indexer
}

// Open opens (or creates) the cache in dir, migrates an older schema,
// recovers from a crash (see Recover) and returns the store. A database held
// by another process gives ErrLocked after opt.OpenTimeout; a damaged one
// gives ErrCorrupt; a newer schema gives ErrSchemaTooNew.
func Open(dir string, opt Options) (*Store, error) {
	if opt.OpenTimeout <= 0 {
		opt.OpenTimeout = 2 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.FreeSpace == nil {
		opt.FreeSpace = freeSpace
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	for _, d := range []string{dir, filepath.Join(dir, InstanceDir), filepath.Join(dir, TempDir)} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("cache: create folder: %w", err)
		}
	}
	path := filepath.Join(dir, DBFile)
	if fi, err := os.Stat(path); err == nil && fi.Size() == 0 {
		return nil, fmt.Errorf("%w: %s is empty (a crash during its creation?); move it aside to start a new cache", ErrCorrupt, path)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("cache: %w", err)
	}
	db, err := openBolt(path, opt.OpenTimeout)
	if err != nil {
		return nil, err
	}
	db.NoSync = opt.NoSync
	s := &Store{dir: dir, db: db, opt: opt, log: opt.Logger}
	if err := s.check(); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.migrate(); err != nil {
		db.Close()
		return nil, err
	}
	rec, err := s.Recover()
	if err != nil {
		db.Close()
		return nil, err
	}
	s.rec = rec
	if err := s.makeInstanceDirs(); err != nil {
		db.Close()
		return nil, err
	}
	s.pool = newSlotPool(filepath.Join(dir, TempDir), opt.NoSync)
	s.idx = newIndexer(s, opt.IndexDelay)
	return s, nil
}

// openBolt opens the file and turns bbolt's failures into the package's
// sentinels. bbolt can panic on some damaged files; that is a corrupt file too.
func openBolt(path string, timeout time.Duration) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, r)
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("%w: %s still locked after %v (is another metsentryd running?)", ErrLocked, path, timeout)
	case errors.Is(err, fs.ErrPermission), errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("cache: open %s: %w", path, err)
	default:
		return nil, fmt.Errorf("%w: %s: %v (move it aside to start a new cache; received files stay in %s)", ErrCorrupt, path, err, InstanceDir)
	}
}

// check walks every page once so a damaged file is found at open, not halfway
// through a study.
func (s *Store) check() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrCorrupt, r)
		}
	}()
	return s.db.View(func(tx *bolt.Tx) error {
		for e := range tx.Check() {
			return fmt.Errorf("%w: %v", ErrCorrupt, e)
		}
		return nil
	})
}

// Dir returns the store folder.
func (s *Store) Dir() string { return s.dir }

// Path returns the absolute path of a file recorded relative to the store.
func (s *Store) Path(rel string) string { return filepath.Join(s.dir, filepath.FromSlash(rel)) }

// Recovered returns what Open found and repaired.
func (s *Store) Recovered() Recovery { return s.rec }

// Close closes the database. Files are left as they are.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil
	}
	s.done = true
	ierr := s.idx.close()
	s.pool.close()
	if ierr != nil {
		s.log.Error("cache: closing with unrecorded instances; the next start adopts their files", "err", ierr)
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("cache: close: %w", err)
	}
	return nil
}

// View runs fn in a read-only transaction.
func (s *Store) View(fn func(*Tx) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return fn(&Tx{tx: tx, now: s.opt.Now}) })
}

// Update runs fn in a read-write transaction; nothing is written when fn
// returns an error.
func (s *Store) Update(fn func(*Tx) error) error {
	return s.db.Update(func(tx *bolt.Tx) error { return fn(&Tx{tx: tx, now: s.opt.Now}) })
}

// Now returns the store's clock reading.
func (s *Store) Now() time.Time { return s.opt.Now() }
