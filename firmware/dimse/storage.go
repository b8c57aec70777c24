package dimse

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"metsentry/firmware/dcmguard"
)

// Storage receives instances the C-STORE SCP has streamed to disk.
type Storage interface {
	// CreateTemp returns a new, empty, writable file on the file system where
	// Store will keep instances (so Store can rename it into place).
	CreateTemp() (*os.File, error)
	// Store makes the instance durable and recorded. It takes ownership of f
	// (written completely as a DICOM Part 10 file: preamble, file meta group
	// with the negotiated transfer syntax, then the data set bytes exactly as
	// received; positioned at the end) and must close or remove it. The SCP
	// answers Success only when Store returns nil; an error wrapping
	// ErrOutOfResources gives status A700, one wrapping ErrDataSetMismatch
	// A900, one wrapping a *dcmguard.Error (the shared DICOM check refused
	// the data set) A900 for an Invalid one and C000 for a Malformed one
	// with its Reason as the Error Comment, any other error C000.
	Store(ctx context.Context, f *os.File, in Instance) error
}

// Instance describes one instance handed to Storage.Store.
type Instance struct {
	SOPClassUID, SOPInstanceUID, TransferSyntaxUID string
	CallingAE, CalledAE                            string
	Remote                                         netip.AddrPort
	Size                                           int64    // bytes of the data set as received
	SHA256                                         [32]byte // of the whole file written to f
	DataSetSHA256                                  [32]byte // of the data set bytes as received
}

// DirStorage keeps each instance as Dir/<SOP Instance UID>.dcm through
// write-temp, fsync, rename, fsync-dir, so an instance it has stored survives
// a power cut. A second instance with the same UID replaces the first. It is
// for tests and tools; the appliance records instances in its cache. Before
// keeping an instance it runs the check the cache runs (dcmguard.Check: the
// bounded walk, UIDs, geometry, pixel data against its attributes), so a
// tool that stores with it answers Success only for what the box would
// accept.
type DirStorage struct {
	Dir string
}

var _ Storage = DirStorage{}

// CreateTemp creates a hidden temporary file in Dir.
func (s DirStorage) CreateTemp() (*os.File, error) {
	f, err := os.CreateTemp(s.Dir, ".incoming-*")
	if err != nil {
		return nil, fmt.Errorf("dimse: storage: %w", wrapResource(err))
	}
	return f, nil
}

// Store checks f with dcmguard.Check, then syncs it, renames it to its
// final name and syncs the folder. A refused instance is removed and the
// error wraps the *dcmguard.Error, which the SCP answers with A900 or C000
// and the refusal's reason.
func (s DirStorage) Store(_ context.Context, f *os.File, in Instance) error {
	tmp := f.Name()
	if err := checkFile(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("dimse: storage: %w", err)
	}
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.Path(in.SOPInstanceUID))
	}
	if err == nil {
		err = dirSyncerFor(s.Dir).sync()
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("dimse: storage: keeping instance: %w", wrapResource(err))
	}
	return nil
}

// checkFile runs the shared DICOM check over the whole of f.
func checkFile(f *os.File) error {
	size, err := f.Seek(0, io.SeekEnd)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		return fmt.Errorf("rewind instance: %w", err)
	}
	_, _, err = dcmguard.Check(f, size, dcmguard.Options{})
	return err
}

// Path is where Store keeps the instance with this SOP Instance UID. UIDs
// that are not plain digits and dots are replaced by their hash so no peer
// can choose a path.
func (s DirStorage) Path(sopInstanceUID string) string {
	name := sopInstanceUID
	if !isUID(name) {
		h := sha256.Sum256([]byte(name))
		name = "x" + hex.EncodeToString(h[:16])
	}
	return filepath.Join(s.Dir, name+".dcm")
}

func isUID(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && s[i] != '.' {
			return false
		}
	}
	return true
}

// dirSyncer makes folder syncs a group commit: a caller needs one sync that
// starts after its rename; while one runs, later callers wait and share the
// next, so parallel associations storing into one folder pay for about one
// folder sync per round instead of one each.
type dirSyncer struct {
	dir     string
	mu      sync.Mutex
	cond    *sync.Cond
	running bool
	started uint64 // syncs started
	done    uint64 // syncs finished
	err     error  // result of the last finished sync
}

var dirSyncers sync.Map // folder -> *dirSyncer

func dirSyncerFor(dir string) *dirSyncer {
	if d, ok := dirSyncers.Load(dir); ok {
		return d.(*dirSyncer)
	}
	d := &dirSyncer{dir: dir}
	d.cond = sync.NewCond(&d.mu)
	actual, _ := dirSyncers.LoadOrStore(dir, d)
	return actual.(*dirSyncer)
}

func (d *dirSyncer) sync() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	// A sync already running may have read the folder before our rename;
	// only one that starts from now on covers it.
	need := d.started + 1
	for d.done < need {
		if d.running {
			d.cond.Wait()
			continue
		}
		d.running = true
		d.started++
		gen := d.started
		d.mu.Unlock()
		err := syncDir(d.dir)
		d.mu.Lock()
		d.running, d.done, d.err = false, gen, err
		d.cond.Broadcast()
	}
	return d.err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// wrapResource marks a full disk or quota as ErrOutOfResources.
func wrapResource(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %w", ErrOutOfResources, err)
	}
	return err
}
