package dimse

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// FileMeta is what this package reads from and writes to the file meta
// information group (0002) of a DICOM Part 10 file.
type FileMeta struct {
	SOPClassUID, SOPInstanceUID, TransferSyntaxUID string
	SourceAE                                       string
	// DataSetOffset is where the data set starts in the file.
	DataSetOffset int64
}

// maxMetaBytes bounds the file meta group this package reads.
const maxMetaBytes = 64 << 10

// AppendFileMeta appends the 128-byte preamble, "DICM" and the file meta
// group for m to dst.
func AppendFileMeta(dst []byte, m FileMeta) []byte {
	dst = append(dst, make([]byte, 128)...)
	dst = append(dst, "DICM"...)
	// (0002,0000) UL group length; filled in below.
	start := len(dst)
	dst = append(dst, 0x02, 0, 0, 0, 'U', 'L', 4, 0, 0, 0, 0, 0)
	body := len(dst)
	// (0002,0001) OB file meta information version 00\01.
	dst = append(dst, 0x02, 0, 0x01, 0, 'O', 'B', 0, 0, 2, 0, 0, 0, 0, 1)
	dst = appendMetaStr(dst, 0x0002, "UI", m.SOPClassUID, 0)
	dst = appendMetaStr(dst, 0x0003, "UI", m.SOPInstanceUID, 0)
	dst = appendMetaStr(dst, 0x0010, "UI", m.TransferSyntaxUID, 0)
	dst = appendMetaStr(dst, 0x0012, "UI", ImplementationClassUID, 0)
	dst = appendMetaStr(dst, 0x0013, "SH", ImplementationVersionName, ' ')
	dst = appendMetaStr(dst, 0x0016, "AE", m.SourceAE, ' ')
	binary.LittleEndian.PutUint32(dst[start+8:], uint32(len(dst)-body))
	return dst
}

func appendMetaStr(dst []byte, elem uint16, vr, s string, pad byte) []byte {
	if s == "" {
		return dst
	}
	n := len(s) + len(s)%2
	dst = append(dst, 0x02, 0)
	dst = binary.LittleEndian.AppendUint16(dst, elem)
	dst = append(dst, vr...)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(n))
	dst = append(dst, s...)
	if len(s)%2 == 1 {
		dst = append(dst, pad)
	}
	return dst
}

// ReadFileMeta reads the preamble and file meta group of a Part 10 file and
// leaves r after it. Group 0002 is always Explicit VR Little Endian.
func ReadFileMeta(r *bufio.Reader) (FileMeta, error) {
	var m FileMeta
	head := make([]byte, 132)
	if _, err := io.ReadFull(r, head); err != nil {
		return m, fmt.Errorf("dimse: reading the Part 10 preamble: %w", err)
	}
	if string(head[128:]) != "DICM" {
		return m, fmt.Errorf("dimse: not a DICOM Part 10 file (no DICM after the 128-byte preamble)")
	}
	off := int64(132)
	for {
		peek, err := r.Peek(2)
		if err != nil {
			if err == io.EOF {
				break // a file with no data set
			}
			return m, fmt.Errorf("dimse: reading the file meta group: %w", err)
		}
		if binary.LittleEndian.Uint16(peek) != 0x0002 {
			break
		}
		var h [8]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return m, fmt.Errorf("dimse: reading the file meta group: %w", err)
		}
		elem := binary.LittleEndian.Uint16(h[2:])
		vr := string(h[4:6])
		n := uint32(binary.LittleEndian.Uint16(h[6:]))
		hl := int64(8)
		switch vr {
		case "OB", "OW", "OF", "SQ", "UT", "UN", "UC", "UR", "OD", "OL", "OV":
			var l [4]byte
			if _, err := io.ReadFull(r, l[:]); err != nil {
				return m, fmt.Errorf("dimse: reading the file meta group: %w", err)
			}
			n, hl = binary.LittleEndian.Uint32(l[:]), 12
		}
		if off+hl+int64(n) > maxMetaBytes {
			return m, fmt.Errorf("dimse: file meta element (0002,%04x) of %d bytes makes the meta group larger than %d bytes", elem, n, maxMetaBytes)
		}
		v := make([]byte, n)
		if _, err := io.ReadFull(r, v); err != nil {
			return m, fmt.Errorf("dimse: reading file meta element (0002,%04x): %w", elem, err)
		}
		off += hl + int64(n)
		switch elem {
		case 0x0002:
			m.SOPClassUID = trimUID(v)
		case 0x0003:
			m.SOPInstanceUID = trimUID(v)
		case 0x0010:
			m.TransferSyntaxUID = trimUID(v)
		case 0x0016:
			m.SourceAE = trimAE(v)
		}
	}
	m.DataSetOffset = off
	if m.SOPClassUID == "" || m.SOPInstanceUID == "" || m.TransferSyntaxUID == "" {
		return m, fmt.Errorf("dimse: file meta group lacks the SOP class, SOP instance or transfer syntax UID (0002,0002/0003/0010)")
	}
	return m, nil
}
