package cache

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// CreateTemp returns a new empty file in the store's temporary folder, on
// the file system where instances are kept, so PutInstance can rename it into
// place. Its name is already durable (slots.go), so the instance written into
// it needs one fdatasync and no folder sync. It fails with ErrDiskFull below
// the low free-space watermark, before a byte is received.
func (s *Store) CreateTemp() (*os.File, error) {
	if err := s.CheckSpace(); err != nil {
		return nil, err
	}
	return s.pool.take()
}

// InstancePath returns the path, relative to the store, where the file of a
// SOP instance with the given content hash is kept. It is derived from a hash
// of the UID, so outside input never becomes a path, and from the content, so
// a changed copy of an instance never overwrites the recorded file before its
// record is committed.
func InstancePath(sopUID string, sum [32]byte) string {
	h := sha256.Sum256([]byte(sopUID))
	x := hex.EncodeToString(h[:])
	return InstanceDir + "/" + x[:2] + "/" + x[:40] + "-" + hex.EncodeToString(sum[:8]) + ".dcm"
}

// makeInstanceDirs creates the 256 folders instance files go into (the first
// two hex digits of InstancePath) and makes them durable once, so storing
// an instance never creates or syncs a folder.
func (s *Store) makeInstanceDirs() error {
	root := filepath.Join(s.dir, InstanceDir)
	made := false
	for i := range 256 {
		d := filepath.Join(root, fmt.Sprintf("%02x", i))
		if _, err := os.Stat(d); err == nil {
			continue
		}
		if err := os.Mkdir(d, 0o750); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("cache: create folder: %w", err)
		}
		made = true
	}
	if made {
		return s.syncDir(root)
	}
	return nil
}

// PutInstance makes a received instance durable and recorded. It takes
// ownership of f (a complete DICOM Part 10 file, from CreateTemp, positioned
// anywhere): on success the file is in place and its record committed, or,
// with an asynchronous index (Options.IndexDelay), in place and queued for
// the next batch commit, which a crash cannot lose: Recover adopts a
// durable file that has no record. On any error f is closed and removed and
// nothing is recorded. Errors wrap ErrDiskFull (low free space),
// ErrBadInstance (not DICOM, refused by dcmguard, missing UIDs, or
// identifiers that disagree with meta) or are I/O errors.
//
// The path of a new instance costs one fdatasync: the file's name is durable
// before it is written (CreateTemp), the folders it is renamed into exist
// from Open, and a crash that undoes the rename leaves it under its
// temporary name, where Recover looks too. Hashes come from the SCP, which
// computed them as the bytes arrived (meta.SHA256, meta.DataSetSHA256); the
// header is read once, by ParseHeader. An instance that replaces a recorded
// one with other content (a corrected resend) takes the careful path: the
// index is flushed, the file renamed and its folder synced, the new record
// committed, and only then the old file removed.
func (s *Store) PutInstance(ctx context.Context, f *os.File, meta Received) (err error) {
	tmp := f.Name()
	placed := ""
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			if placed != "" {
				// Renamed but not committed: a record-less file would be
				// adopted at the next start; remove it now instead.
				os.Remove(placed)
			}
		}
	}()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cache: store instance: %w", err)
	}
	if err := s.CheckSpace(); err != nil {
		return err
	}
	if !s.opt.NoSync {
		if err := fdatasync(f); err != nil {
			return fmt.Errorf("cache: fdatasync %s: %w", filepath.Base(tmp), err)
		}
	}
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("cache: stat %s: %w", filepath.Base(tmp), err)
	}
	size := fi.Size()
	if meta.Size != 0 && meta.Size != size {
		return fmt.Errorf("%w: file is %d bytes, the SCP wrote %d", ErrBadInstance, size, meta.Size)
	}
	sum, dsSum := meta.SHA256, meta.DataSetSHA256
	if sum == ([32]byte{}) {
		if sum, err = fileSHA256(f); err != nil {
			return err
		}
	}
	if dsSum == ([32]byte{}) {
		if dsSum, err = dataSetSHA256(f); err != nil {
			return err
		}
	}
	h, err := ParseHeader(f, size)
	if err != nil {
		return err
	}
	if meta.SOPInstanceUID != "" && meta.SOPInstanceUID != h.SOPInstanceUID {
		return fmt.Errorf("%w: %w: data set SOP Instance UID %q differs from the one in the C-STORE request %q", ErrBadInstance, ErrUIDMismatch, h.SOPInstanceUID, meta.SOPInstanceUID)
	}
	if meta.SOPClassUID != "" && meta.SOPClassUID != h.SOPClassUID {
		return fmt.Errorf("%w: %w: data set SOP Class UID %q differs from the one in the C-STORE request %q", ErrBadInstance, ErrUIDMismatch, h.SOPClassUID, meta.SOPClassUID)
	}
	if h.TransferSyntaxUID == "" {
		h.TransferSyntaxUID = meta.TransferSyntaxUID
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cache: close %s: %w", filepath.Base(tmp), err)
	}
	in := Instance{Header: h, Path: InstancePath(h.SOPInstanceUID, sum), Size: size, SHA256: sum, DataSetSHA256: dsSum,
		ReceivedAt: s.opt.Now(), CallingAE: meta.CallingAE, CalledAE: meta.CalledAE, Remote: meta.Remote}

	old, known, err := s.current(h.SOPInstanceUID)
	if err != nil {
		return err
	}
	if known && sameContent(old, in) {
		// An identical copy already recorded (or queued): keep the file we
		// have, and note which association sent it again (Series.LastRemote).
		if err := os.Remove(tmp); err != nil {
			return fmt.Errorf("cache: remove duplicate %s: %w", filepath.Base(tmp), err)
		}
		seq := s.idx.touch(in)
		if s.opt.IndexDelay > 0 {
			return nil
		}
		return s.idx.wait(seq)
	}
	dst := s.Path(in.Path)
	if !known {
		if err := os.Rename(tmp, dst); err != nil {
			return fmt.Errorf("cache: rename into place: %w", err)
		}
		placed = dst
		seq := s.idx.add(in)
		if s.opt.IndexDelay > 0 {
			return nil
		}
		if err := s.idx.wait(seq); err != nil {
			// The file is durable and the record queued: the next
			// commit, or Recover, records it. The sender is not told
			// Success, so it resends, which is a duplicate.
			placed = ""
			return err
		}
		return nil
	}
	return s.replace(tmp, dst, old, in, &placed)
}

// current returns the record of a SOP instance, queued or committed.
func (s *Store) current(sop string) (Instance, bool, error) {
	if in, ok := s.idx.lookup(sop); ok {
		return in, true, nil
	}
	var in Instance
	var ok bool
	err := s.View(func(t *Tx) error {
		var err error
		in, ok, err = t.Instance(sop)
		return err
	})
	return in, ok, err
}

// replace stores an instance whose SOP Instance UID is recorded with other
// content, synchronously: the old record must not be lost to a crash
// before the new one is committed, and the old file goes only after.
func (s *Store) replace(tmp, dst string, old, in Instance, placed *string) error {
	if err := s.idx.flush(); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("cache: rename into place: %w", err)
	}
	if in.Path != old.Path {
		*placed = dst
	}
	if err := s.syncDir(filepath.Dir(dst)); err != nil {
		return err
	}
	if err := s.idx.wait(s.idx.add(in)); err != nil {
		return fmt.Errorf("cache: record instance: %w", err)
	}
	*placed = ""
	if old.Path != "" && old.Path != in.Path {
		// The replaced copy; a crash before this leaves an orphan that
		// Recover removes.
		if err := os.Remove(s.Path(old.Path)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("cache: remove replaced instance file", "err", err)
		}
	}
	return nil
}

// fileSHA256 hashes a whole file (when the caller did not).
func fileSHA256(f *os.File) ([32]byte, error) {
	var sum [32]byte
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return sum, fmt.Errorf("cache: rewind %s: %w", filepath.Base(f.Name()), err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, fmt.Errorf("cache: read back %s: %w", filepath.Base(f.Name()), err)
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// sameContent reports whether two records of one SOP instance hold the same
// data set in the same series: a duplicate, not a change.
func sameContent(a, b Instance) bool {
	if a.StudyInstanceUID != b.StudyInstanceUID || a.SeriesInstanceUID != b.SeriesInstanceUID {
		return false
	}
	if a.DataSetSHA256 != ([32]byte{}) && b.DataSetSHA256 != ([32]byte{}) {
		return a.DataSetSHA256 == b.DataSetSHA256
	}
	return a.SHA256 == b.SHA256
}

// dataSetSHA256 hashes what follows the file meta group of a Part 10 file.
func dataSetSHA256(f *os.File) ([32]byte, error) {
	var sum [32]byte
	off, _, err := metaGroup(f)
	if err != nil {
		return sum, err
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return sum, fmt.Errorf("cache: seek past the meta group: %w", err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, fmt.Errorf("cache: hash data set: %w", err)
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// metaGroup returns the offset of the first element after the file meta
// group (always explicit VR little endian, PS3.10 §7.1) and the transfer
// syntax it names.
func metaGroup(r io.ReadSeeker) (int64, string, error) {
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return 0, "", err
	}
	ts := ""
	br := bufio.NewReader(r)
	var pre [132]byte
	if _, err := io.ReadFull(br, pre[:]); err != nil || string(pre[128:]) != "DICM" {
		return 0, "", fmt.Errorf("%w: no DICM prefix at byte 128 (not a DICOM Part 10 file)", ErrBadInstance)
	}
	off := int64(132)
	for {
		hdr, err := br.Peek(8)
		if err != nil || binary.LittleEndian.Uint16(hdr[0:2]) != 0x0002 {
			return off, ts, nil // end of file or first data set element
		}
		vr := string(hdr[4:6])
		var n int64
		switch vr {
		case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
			var ext [12]byte
			if _, err := io.ReadFull(br, ext[:]); err != nil {
				return 0, "", fmt.Errorf("%w: truncated file meta group", ErrBadInstance)
			}
			n = int64(binary.LittleEndian.Uint32(ext[8:12]))
			off += 12
		default:
			br.Discard(8) //nolint:errcheck // peeked above
			n = int64(binary.LittleEndian.Uint16(hdr[6:8]))
			off += 8
		}
		if n > 1<<20 {
			return 0, "", fmt.Errorf("%w: file meta element of %d bytes", ErrBadInstance, n)
		}
		isTS := binary.LittleEndian.Uint16(hdr[2:4]) == 0x0010
		v, err := br.Peek(int(n))
		if err != nil {
			return 0, "", fmt.Errorf("%w: truncated file meta group", ErrBadInstance)
		}
		if isTS {
			ts = strings.TrimRight(string(v), " \x00")
		}
		br.Discard(int(n)) //nolint:errcheck // peeked
		off += n
	}
}

func (s *Store) syncDir(dir string) error {
	if s.opt.NoSync {
		return nil
	}
	return syncDir(dir)
}

// syncDir fsyncs a folder so a rename or create in it survives a power cut.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("cache: open folder for fsync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("cache: fsync folder %s: %w", dir, err)
	}
	return nil
}
