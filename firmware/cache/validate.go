package cache

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/suyashkumar/dicom/pkg/tag"
)

// maxElementBytes bounds one element's declared length before the pixel
// data. Header elements of real instances are far smaller; a larger length
// is a damaged or hostile file.
const maxElementBytes = 64 << 20

const undefinedLength = 0xFFFFFFFF

// Transfer syntaxes whose data set encoding checkLengths understands.
const (
	tsImplicitLE = "1.2.840.10008.1.2"
	tsExplicitLE = "1.2.840.10008.1.2.1"
	tsDeflated   = "1.2.840.10008.1.2.1.99"
	tsExplicitBE = "1.2.840.10008.1.2.2"
)

// maxDeflatedHeader bounds the inflated header of a deflated data set.
const maxDeflatedHeader = 64 << 20

// headerOnly returns a Part 10 stream holding the file meta group and the
// data set up to (not including) the first element after lastHeaderTag or
// the pixel data, with its length, after checking every declared length in
// that part (checkLengths). The DICOM parser allocates a declared length
// before reading it, so a 16 KB file claiming a 3 GB element, or an
// encapsulated pixel data fragment claiming as much, would otherwise cost
// that much memory: the parser never sees more than the checked bytes.
func headerOnly(r io.ReadSeeker, size int64) (io.Reader, int64, error) {
	start, ts, err := metaGroup(r)
	if err != nil {
		return nil, 0, err
	}
	if _, err := r.Seek(start, io.SeekStart); err != nil {
		return nil, 0, fmt.Errorf("cache: seek to data set: %w", err)
	}
	w := &walker{end: size - start}
	var src io.Reader = r
	var inflated *bytes.Buffer
	switch ts {
	case tsImplicitLE:
		w.implicit, w.bo = true, binary.LittleEndian
	case tsExplicitLE, "":
		w.bo = binary.LittleEndian
	case tsExplicitBE:
		w.bo = binary.BigEndian
	case tsDeflated:
		w.bo, w.end = binary.LittleEndian, -1 // inflated size unknown: the caps alone apply
		inflated = &bytes.Buffer{}
		src = io.TeeReader(io.LimitReader(flate.NewReader(r), maxDeflatedHeader), inflated)
	default:
		// Encapsulated (compressed pixel data) syntaxes encode the header
		// as explicit VR little endian.
		w.bo = binary.LittleEndian
	}
	w.r = bufio.NewReaderSize(src, 32<<10)
	if err := w.elements(-1, true); err != nil && !errors.Is(err, errStop) {
		return nil, 0, fmt.Errorf("%w: %v", ErrBadInstance, err)
	}
	if inflated == nil {
		return io.NewSectionReader(readerAt{r}, 0, start+w.stop), start + w.stop, nil
	}
	if int64(inflated.Len()) >= maxDeflatedHeader {
		return nil, 0, fmt.Errorf("%w: deflated header larger than %d MiB", ErrBadInstance, maxDeflatedHeader>>20)
	}
	// Deflate the checked part again so the parser reads exactly it.
	meta := make([]byte, start)
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, 0, err
	}
	if _, err := io.ReadFull(r, meta); err != nil {
		return nil, 0, fmt.Errorf("%w: re-read meta group: %v", ErrBadInstance, err)
	}
	var out bytes.Buffer
	out.Write(meta)
	fw, _ := flate.NewWriter(&out, flate.BestSpeed)
	fw.Write(inflated.Bytes()[:w.stop]) //nolint:errcheck // writes to memory
	fw.Close()                          //nolint:errcheck // writes to memory
	return bytes.NewReader(out.Bytes()), int64(out.Len()), nil
}

// readerAt serves ReadAt from a ReadSeeker (an *os.File or *bytes.Reader
// implements it directly).
type readerAt struct{ r io.ReadSeeker }

func (a readerAt) ReadAt(p []byte, off int64) (int, error) {
	if ra, ok := a.r.(io.ReaderAt); ok {
		return ra.ReadAt(p, off)
	}
	if _, err := a.r.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	return io.ReadFull(a.r, p)
}

var errStop = errors.New("stop")

type walker struct {
	r        *bufio.Reader
	bo       binary.ByteOrder
	implicit bool
	pos      int64 // bytes of the data set read
	end      int64 // data set size, or -1 when unknown
	stop     int64 // where the header ends: the data set offset the parser may read to
}

func (w *walker) read(n int) ([]byte, error) {
	b, err := w.r.Peek(n)
	if err != nil {
		return nil, err
	}
	w.r.Discard(n) //nolint:errcheck // peeked
	w.pos += int64(n)
	return b, nil
}

// header reads one element header.
func (w *walker) header() (t tag.Tag, vr string, length uint32, err error) {
	b, err := w.read(4)
	if err != nil {
		return t, "", 0, err
	}
	t = tag.Tag{Group: w.bo.Uint16(b[0:2]), Element: w.bo.Uint16(b[2:4])}
	if t.Group == 0xFFFE || w.implicit {
		b, err := w.read(4)
		if err != nil {
			return t, "", 0, fmt.Errorf("truncated element header")
		}
		if t.Group != 0xFFFE {
			if info, err := tag.Find(t); err == nil && len(info.VRs) > 0 {
				vr = info.VRs[0]
			}
		}
		return t, vr, w.bo.Uint32(b), nil
	}
	b, err = w.read(2)
	if err != nil {
		return t, "", 0, fmt.Errorf("truncated element header")
	}
	vr = string(b)
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
		b, err := w.read(6)
		if err != nil {
			return t, "", 0, fmt.Errorf("truncated element header")
		}
		return t, vr, w.bo.Uint32(b[2:6]), nil
	}
	b, err = w.read(2)
	if err != nil {
		return t, "", 0, fmt.Errorf("truncated element header")
	}
	return t, vr, uint32(w.bo.Uint16(b)), nil
}

func after(a, b tag.Tag) bool {
	return a.Group > b.Group || (a.Group == b.Group && a.Element > b.Element)
}

// skip checks a defined length against the cap and the container, then
// skips the value.
func (w *walker) skip(t tag.Tag, n uint32, end int64) error {
	if n > maxElementBytes {
		return fmt.Errorf("element %v declares %d bytes (more than %d before the pixel data)", t, n, maxElementBytes)
	}
	if end >= 0 && w.pos+int64(n) > end {
		return fmt.Errorf("element %v declares %d bytes, past the end of its container", t, n)
	}
	if w.end >= 0 && w.pos+int64(n) > w.end {
		return fmt.Errorf("element %v declares %d bytes, past the end of the file", t, n)
	}
	d, err := w.r.Discard(int(n))
	w.pos += int64(d)
	if err != nil {
		return fmt.Errorf("element %v: truncated value", t)
	}
	return nil
}

// elements walks elements until end (a defined-length container), an item
// delimiter (end < 0, nested), or the end of the header (top level).
func (w *walker) elements(end int64, top bool) error {
	for {
		if end >= 0 && w.pos >= end {
			if w.pos > end {
				return fmt.Errorf("item contents run past its declared length")
			}
			return nil
		}
		at := w.pos
		t, vr, n, err := w.header()
		if errors.Is(err, io.EOF) && top && w.pos == at {
			w.stop = at
			return nil
		}
		if err != nil {
			return err
		}
		if t.Group == 0xFFFE {
			if t.Element == 0xE00D && end < 0 && !top {
				return nil // item delimiter
			}
			return fmt.Errorf("unexpected %v in a data set", t)
		}
		if top && (t == tag.PixelData || after(t, lastHeaderTag)) {
			w.stop = at
			return errStop
		}
		if vr == "SQ" || (n == undefinedLength && (w.implicit || vr == "UN")) {
			var iend int64 = -1
			if n != undefinedLength {
				if err := w.fits(t, n, end); err != nil {
					return err
				}
				iend = w.pos + int64(n)
			}
			if err := w.items(iend); err != nil {
				return err
			}
			continue
		}
		if n == undefinedLength {
			if t == tag.PixelData {
				return errStop // encapsulated pixel data in a nested item: stop looking
			}
			return fmt.Errorf("element %v (%s) has an undefined length", t, vr)
		}
		if err := w.skip(t, n, end); err != nil {
			return err
		}
	}
}

func (w *walker) fits(t tag.Tag, n uint32, end int64) error {
	if (end >= 0 && w.pos+int64(n) > end) || (w.end >= 0 && w.pos+int64(n) > w.end) {
		return fmt.Errorf("sequence %v declares %d bytes, past the end of its container", t, n)
	}
	return nil
}

// items walks the items of a sequence until end or a sequence delimiter.
func (w *walker) items(end int64) error {
	for {
		if end >= 0 && w.pos >= end {
			if w.pos > end {
				return fmt.Errorf("sequence contents run past its declared length")
			}
			return nil
		}
		b, err := w.read(8)
		if err != nil {
			return fmt.Errorf("truncated sequence")
		}
		t := tag.Tag{Group: w.bo.Uint16(b[0:2]), Element: w.bo.Uint16(b[2:4])}
		n := w.bo.Uint32(b[4:8])
		switch {
		case t == tag.Tag{Group: 0xFFFE, Element: 0xE0DD} && end < 0:
			return nil
		case t != tag.Tag{Group: 0xFFFE, Element: 0xE000}:
			return fmt.Errorf("%v where a sequence item was expected", t)
		}
		iend := int64(-1)
		if n != undefinedLength {
			if err := w.fits(t, n, end); err != nil {
				return err
			}
			iend = w.pos + int64(n)
		}
		if err := w.elements(iend, false); err != nil {
			return err
		}
	}
}
