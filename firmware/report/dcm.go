package report

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// Transfer syntax and identification of the files we write.
const (
	explicitVRLittleEndian = "1.2.840.10008.1.2.1"
	// ImplementationClassUID identifies metsentry's DICOM writer (a UUID-derived
	// UID under 2.25, which needs no registered root).
	ImplementationClassUID    = "2.25.208233137451340469125004683213939370547"
	implementationVersionName = "METSENTRY_1"
)

// SOP classes we write.
const (
	SegmentationStorage      = "1.2.840.10008.5.1.4.1.1.66.4"
	Comprehensive3DSRStorage = "1.2.840.10008.5.1.4.1.1.88.34"
	SecondaryCaptureStorage  = "1.2.840.10008.5.1.4.1.1.7"
)

// NewUID returns a fresh UID under 2.25 (PS3.5 B.2: a UUID as a decimal
// integer), so no organisation root is needed.
func NewUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])  // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // variant 10
	return "2.25." + new(big.Int).SetBytes(b[:]).String()
}

// builder collects DICOM elements and remembers the first error, so the
// object-building code reads like the module tables it follows.
type builder struct{ err error }

func (b *builder) el(t tag.Tag, v any) *dicom.Element {
	e, err := dicom.NewElement(t, v)
	if err != nil {
		if b.err == nil {
			b.err = fmt.Errorf("report: element %s: %w", tag.DebugString(t), err)
		}
		return &dicom.Element{Tag: t}
	}
	return e
}

// s makes a string element; odd-length values are padded here so every VR
// gets its proper padding character (the library pads UT with NUL).
func (b *builder) s(t tag.Tag, v ...string) *dicom.Element {
	if v == nil {
		v = []string{}
	}
	e := b.el(t, v)
	if len(v) > 0 && e.RawValueRepresentation != "UI" {
		n := len(v) - 1
		for _, x := range v {
			n += len(x)
		}
		if n%2 == 1 {
			w := slices.Clone(v)
			w[len(w)-1] += " "
			e = b.el(t, w)
		}
	}
	return e
}

func (b *builder) ints(t tag.Tag, v ...int) *dicom.Element { return b.el(t, v) }

func (b *builder) ds(t tag.Tag, v ...float64) *dicom.Element {
	out := make([]string, len(v))
	for i, x := range v {
		out[i] = formatDS(x)
	}
	return b.s(t, out...)
}

func (b *builder) is(t tag.Tag, v int) *dicom.Element { return b.s(t, strconv.Itoa(v)) }

// seq makes a sequence of items; each item's elements are put in tag order.
func (b *builder) seq(t tag.Tag, items ...[]*dicom.Element) *dicom.Element {
	for _, it := range items {
		sortElements(it)
	}
	if items == nil {
		items = [][]*dicom.Element{}
	}
	return b.el(t, items)
}

// item is a convenience for one sequence item.
func item(els ...*dicom.Element) []*dicom.Element { return els }

// code is a Code Sequence Macro item (PS3.3 Table 8.8-1).
type code struct{ value, scheme, meaning string }

func (b *builder) codeItem(c code) []*dicom.Element {
	return item(b.s(tag.CodeValue, c.value), b.s(tag.CodingSchemeDesignator, c.scheme), b.s(tag.CodeMeaning, c.meaning))
}

func (b *builder) codeSeq(t tag.Tag, c code) *dicom.Element { return b.seq(t, b.codeItem(c)) }

func sortElements(els []*dicom.Element) {
	slices.SortStableFunc(els, func(x, y *dicom.Element) int {
		if x.Tag.Group != y.Tag.Group {
			return int(x.Tag.Group) - int(y.Tag.Group)
		}
		return int(x.Tag.Element) - int(y.Tag.Element)
	})
}

// formatDS formats a Decimal String of at most 16 characters.
func formatDS(v float64) string {
	for prec := 10; prec > 0; prec-- {
		s := strconv.FormatFloat(v, 'f', prec, 64)
		if strings.Contains(s, ".") {
			s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		}
		if s == "-0" {
			s = "0"
		}
		if len(s) <= 16 {
			return s
		}
	}
	return strconv.FormatFloat(v, 'e', 6, 64)
}

func dicomDate(t time.Time) string { return t.Format("20060102") }
func dicomTime(t time.Time) string { return t.Format("150405.000000") }

// metaElements are the File Meta Information elements (PS3.10 7.1).
func (b *builder) meta(sopClass, sopInstance string) []*dicom.Element {
	return []*dicom.Element{
		b.el(tag.FileMetaInformationVersion, []byte{0, 1}),
		b.s(tag.MediaStorageSOPClassUID, sopClass),
		b.s(tag.MediaStorageSOPInstanceUID, sopInstance),
		b.s(tag.TransferSyntaxUID, explicitVRLittleEndian),
		b.s(tag.ImplementationClassUID, ImplementationClassUID),
		b.s(tag.ImplementationVersionName, implementationVersionName),
	}
}

// rawPixelData is a PixelData element holding already-encoded native pixel
// bytes. suyashkumar/dicom v1.1.0 writes native frames only for 8, 16 and 32
// bits allocated, so 1-bit SEG frames (and, for symmetry, our 8-bit RGB
// frames) go through its "unprocessed value" path, which writes the bytes as
// they are; the value is padded to even length here.
func (b *builder) rawPixelData(vr string, data []byte) *dicom.Element {
	if len(data)%2 == 1 {
		data = append(data, 0)
	}
	v, err := dicom.NewValue(dicom.PixelDataInfo{IntentionallyUnprocessed: true, UnprocessedValueData: data})
	if err != nil && b.err == nil {
		b.err = fmt.Errorf("report: pixel data: %w", err)
	}
	return &dicom.Element{Tag: tag.PixelData, ValueRepresentation: tag.VRPixelData, RawValueRepresentation: vr, Value: v}
}

// encode writes a dataset (meta elements included) to bytes.
func (b *builder) encode(els []*dicom.Element) ([]byte, error) {
	if b.err != nil {
		return nil, b.err
	}
	sortElements(els)
	var buf bytes.Buffer
	if err := dicom.Write(&buf, dicom.Dataset{Elements: els}); err != nil {
		return nil, fmt.Errorf("report: writing dataset: %w", err)
	}
	return buf.Bytes(), nil
}

// writeFileAtomic writes data to path through a temporary file that is
// synced and renamed, then syncs the folder, so a power cut leaves either
// the old file or the whole new one.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("report: writing %s: %w", path, werr)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
