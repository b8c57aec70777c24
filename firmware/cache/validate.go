package cache

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"

	"github.com/suyashkumar/dicom/pkg/tag"

	"metsentry/firmware/dcmguard"
)

// maxDeflatedHeader bounds the inflated header of a deflated data set, the
// part kept in memory for the DICOM parser.
const maxDeflatedHeader = 64 << 20

// headerOnly checks a Part 10 file with dcmguard.Check (the shared bounded
// walk: depth, element length, element and item counts, data set size, then
// UIDs, geometry and pixel data against the Image Pixel module) and returns
// a Part 10 stream holding the file meta group and the data set up to (not
// including) the first top-level element after lastHeaderTag or the pixel
// data, with its length. The DICOM parser allocates a declared length before
// reading it and recurses once per nesting level, so it never sees more than
// the checked bytes. A refusal wraps ErrBadInstance and the *dcmguard.Error,
// whose Reason the SCP sends back as the Error Comment.
func headerOnly(r io.ReadSeeker, size int64) (io.Reader, int64, error) {
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, 0, fmt.Errorf("cache: rewind instance: %w", err)
	}
	inflated := &capBuffer{max: maxDeflatedHeader}
	_, res, err := dcmguard.Check(r, size, dcmguard.Options{
		HeaderEnd: func(t tag.Tag) bool {
			end := t == tag.PixelData || after(t, lastHeaderTag)
			if end {
				inflated.max = 0 // the header is in: keep no pixel data
			}
			return end
		},
		Inflated: inflated,
	})
	var ge *dcmguard.Error
	switch {
	case errors.As(err, &ge):
		return nil, 0, fmt.Errorf("%w: %w", ErrBadInstance, err)
	case err != nil:
		return nil, 0, fmt.Errorf("cache: read instance: %w", err)
	}
	start, stop := res.Meta.DataSetOffset, res.HeaderEnd
	if res.Meta.TransferSyntaxUID != dcmguard.DeflatedExplicitVRLittleEndian {
		return io.NewSectionReader(readerAt{r}, 0, start+stop), start + stop, nil
	}
	if stop > int64(inflated.buf.Len()) {
		return nil, 0, fmt.Errorf("%w: deflated header larger than %d MiB", ErrBadInstance, maxDeflatedHeader>>20)
	}
	// Deflate the checked part again so the parser reads exactly it.
	meta := make([]byte, start)
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, 0, fmt.Errorf("cache: rewind instance: %w", err)
	}
	if _, err := io.ReadFull(r, meta); err != nil {
		return nil, 0, fmt.Errorf("%w: re-read meta group: %v", ErrBadInstance, err)
	}
	var out bytes.Buffer
	out.Write(meta)
	fw, _ := flate.NewWriter(&out, flate.BestSpeed)
	fw.Write(inflated.buf.Bytes()[:stop]) //nolint:errcheck // writes to memory
	fw.Close()                            //nolint:errcheck // writes to memory
	return bytes.NewReader(out.Bytes()), int64(out.Len()), nil
}

// capBuffer keeps what is written to it until it holds max bytes, and drops
// the rest.
type capBuffer struct {
	buf bytes.Buffer
	max int
}

func (c *capBuffer) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
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

func after(a, b tag.Tag) bool {
	return a.Group > b.Group || (a.Group == b.Group && a.Element > b.Element)
}
