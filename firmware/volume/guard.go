package volume

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/suyashkumar/dicom/pkg/tag"
)

// checkStructure walks a Part 10 file's elements, sequences and items and
// checks that every defined length fits inside what holds it, before
// suyashkumar/dicom parses it. The parser allocates an element's declared
// length before reading it (make([]byte, vl)), so one corrupt length in a
// received file would ask for up to 4 GiB; here it is a refusal instead.
func checkStructure(b []byte) error {
	if len(b) < 132 || string(b[128:132]) != "DICM" {
		return fmt.Errorf("no DICM prefix at byte 128 (not a DICOM Part 10 file)")
	}
	meta := walker{b: b, bo: binary.LittleEndian}
	off := 132
	ts := ""
	for off+8 <= len(b) && binary.LittleEndian.Uint16(b[off:]) == 0x0002 {
		e, err := meta.header(off, len(b))
		if err != nil {
			return err
		}
		if e.vl == undefinedLength || e.vl > uint32(len(b)-off-e.hdr) {
			return fmt.Errorf("meta element %s declares %d bytes, %d remain", e.tag, e.vl, len(b)-off-e.hdr)
		}
		if e.tag == tTransferSyntax {
			ts = string(bytes.TrimRight(b[off+e.hdr:off+e.hdr+int(e.vl)], " \x00"))
		}
		off += e.hdr + int(e.vl)
	}
	w := walker{b: b, bo: binary.LittleEndian}
	switch ts {
	case tsImplicitLE:
		w.implicit = true
	case tsExplicitBE:
		w.bo = binary.BigEndian
	case tsDeflatedLE:
		// Inflate (bounded) and walk the inflated dataset.
		data, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(b[off:])), maxInflated+1))
		if err != nil {
			return fmt.Errorf("deflated dataset: %v", err)
		}
		if len(data) > maxInflated {
			return fmt.Errorf("deflated dataset inflates beyond %d bytes", maxInflated)
		}
		w.b, off = data, 0
	}
	_, err := w.dataset(off, len(w.b), 0, false)
	return err
}

const (
	undefinedLength = 0xFFFFFFFF
	maxDepth        = 32
	maxInflated     = 1 << 30
)

var (
	tItem          = tag.Tag{Group: 0xFFFE, Element: 0xE000}
	tItemDelim     = tag.Tag{Group: 0xFFFE, Element: 0xE00D}
	tSequenceDelim = tag.Tag{Group: 0xFFFE, Element: 0xE0DD}
)

type walker struct {
	b        []byte
	bo       binary.ByteOrder
	implicit bool
}

type elemHeader struct {
	tag  tag.Tag
	vl   uint32
	hdr  int
	isSQ bool
}

func (w *walker) header(off, end int) (elemHeader, error) {
	b := w.b
	if end-off < 8 {
		return elemHeader{}, fmt.Errorf("truncated element header at byte %d", off)
	}
	t := tag.Tag{Group: w.bo.Uint16(b[off:]), Element: w.bo.Uint16(b[off+2:])}
	if t.Group == 0xFFFE || w.implicit {
		e := elemHeader{tag: t, vl: w.bo.Uint32(b[off+4:]), hdr: 8}
		if w.implicit && t.Group != 0xFFFE {
			if info, err := tag.Find(t); err == nil {
				for _, vr := range info.VRs {
					if vr == "SQ" {
						e.isSQ = true
					}
				}
			}
		}
		return e, nil
	}
	vr := string(b[off+4 : off+6])
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
		if end-off < 12 {
			return elemHeader{}, fmt.Errorf("truncated element header at byte %d", off)
		}
		return elemHeader{tag: t, vl: w.bo.Uint32(b[off+8:]), hdr: 12, isSQ: vr == "SQ"}, nil
	}
	return elemHeader{tag: t, vl: uint32(w.bo.Uint16(b[off+6:])), hdr: 8}, nil
}

// dataset walks elements from off to end (or to an item delimiter when
// inItem) and returns the offset after them.
func (w *walker) dataset(off, end, depth int, inItem bool) (int, error) {
	if depth > maxDepth {
		return 0, fmt.Errorf("sequences nested deeper than %d", maxDepth)
	}
	for off < end {
		e, err := w.header(off, end)
		if err != nil {
			return 0, err
		}
		if e.tag == tItemDelim {
			if inItem {
				return off + 8, nil
			}
			return 0, fmt.Errorf("item delimiter outside an item at byte %d", off)
		}
		body := off + e.hdr
		if e.vl == undefinedLength {
			// A sequence, encapsulated pixel data, or UN holding a sequence.
			off, err = w.items(body, end, depth+1, e.tag == tPixelData && !e.isSQ, false)
			if err != nil {
				return 0, err
			}
			continue
		}
		if int64(e.vl) > int64(end-body) {
			return 0, fmt.Errorf("element %s at byte %d declares %d bytes, %d remain", e.tag, off, e.vl, end-body)
		}
		if e.isSQ {
			if _, err := w.items(body, body+int(e.vl), depth+1, false, true); err != nil {
				return 0, err
			}
		}
		off = body + int(e.vl)
	}
	if inItem {
		return 0, fmt.Errorf("item without its delimiter")
	}
	return off, nil
}

// items walks sequence items (or encapsulated fragments) from off; a
// defined-length sequence ends at end, an undefined one at its delimiter.
func (w *walker) items(off, end, depth int, fragments, defined bool) (int, error) {
	for {
		if defined && off == end {
			return off, nil
		}
		if end-off < 8 {
			return 0, fmt.Errorf("truncated sequence at byte %d", off)
		}
		t := tag.Tag{Group: w.bo.Uint16(w.b[off:]), Element: w.bo.Uint16(w.b[off+2:])}
		vl := w.bo.Uint32(w.b[off+4:])
		switch t {
		case tSequenceDelim:
			return off + 8, nil
		case tItem:
		default:
			return 0, fmt.Errorf("expected an item at byte %d, found %s", off, t)
		}
		body := off + 8
		if vl == undefinedLength {
			if fragments {
				return 0, fmt.Errorf("pixel data fragment of undefined length at byte %d", off)
			}
			n, err := w.dataset(body, end, depth, true)
			if err != nil {
				return 0, err
			}
			off = n
			continue
		}
		if int64(vl) > int64(end-body) {
			return 0, fmt.Errorf("item at byte %d declares %d bytes, %d remain", off, vl, end-body)
		}
		if !fragments {
			if _, err := w.dataset(body, body+int(vl), depth, false); err != nil {
				return 0, err
			}
		}
		off = body + int(vl)
	}
}
