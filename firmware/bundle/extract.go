package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// Extract writes the bundle's files into dir (which must not exist yet),
// with bundle.json beside them, each file synced. It reads the bundle again
// and checks it again as it writes (the payload's sha256 against the
// signature, each file against the manifest Open verified), so a file
// swapped after Open is refused; on any error dir is removed.
func (b *Bundle) Extract(dir string) (err error) {
	if _, err := os.Lstat(dir); err == nil {
		return fmt.Errorf("bundle: extract: %s exists (extract into a fresh folder)", dir)
	}
	f, err := os.Open(b.Path)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(b.offset, io.SeekStart); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	h := sha256.New()
	raw := io.TeeReader(io.LimitReader(f, b.sig.PayloadSize+1), h)
	_, _, err = walk(b.Path, raw, b.manifest, func(fl File, r io.Reader) error {
		mode := os.FileMode(0o644)
		if fl.Executable {
			mode = 0o755
		}
		return writeAtomic(filepath.Join(dir, filepath.FromSlash(fl.Path)), r, mode)
	})
	if err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, raw); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != b.sig.PayloadSHA256 {
		return fmt.Errorf("%w: %s: the payload hashes to %s now, %s when it was verified (the bundle was replaced while in use)", ErrAltered, b.Path, got, b.sig.PayloadSHA256)
	}
	if err := writeAtomic(filepath.Join(dir, ManifestName), bytes.NewReader(b.manifest), 0o644); err != nil {
		return err
	}
	return syncTree(dir)
}

// writeAtomic writes r to p through a temporary file, fsync and rename, then
// syncs the folder (CONVENTIONS.md 7).
func writeAtomic(p string, r io.Reader, mode os.FileMode) error {
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(p)+"-*")
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("bundle: %s: %w", p, err)
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("bundle: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("bundle: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("bundle: sync %s: %w", dir, err)
	}
	return nil
}

// syncTree syncs every folder under dir (the files were synced as written),
// so their entries survive a power cut.
func syncTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
		if d.IsDir() {
			return syncDir(p)
		}
		return nil
	})
}

func sortedKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
