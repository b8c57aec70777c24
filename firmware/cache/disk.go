package cache

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// freeSpace reports the bytes available to an unprivileged writer and the
// size of the file system holding dir.
func freeSpace(dir string) (free, total uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, fmt.Errorf("cache: statfs %s: %w", dir, err)
	}
	return st.Bavail * uint64(st.Bsize), st.Blocks * uint64(st.Bsize), nil
}

// DiskUsage is the state of the cache file system.
type DiskUsage struct {
	Free, Total uint64
}

// UsedFraction is the used share of the file system, 0 to 1.
func (d DiskUsage) UsedFraction() float64 {
	if d.Total == 0 {
		return 0
	}
	return 1 - float64(d.Free)/float64(d.Total)
}

// Disk reports free and total bytes of the cache file system.
func (s *Store) Disk() (DiskUsage, error) {
	f, t, err := s.opt.FreeSpace(s.dir)
	return DiskUsage{Free: f, Total: t}, err
}

// CheckSpace returns an error wrapping ErrDiskFull when the free space is
// below the low watermark (Options.MinFreeBytes). The daemon calls it for the
// panel's fault state too.
func (s *Store) CheckSpace() error {
	if s.opt.MinFreeBytes == 0 {
		return nil
	}
	d, err := s.Disk()
	if err != nil {
		return err
	}
	if d.Free < s.opt.MinFreeBytes {
		return fmt.Errorf("%w: %d MiB free, at least %d MiB needed (retention purges delivered studies; check the outbox if it cannot)", ErrDiskFull, d.Free>>20, s.opt.MinFreeBytes>>20)
	}
	return nil
}
