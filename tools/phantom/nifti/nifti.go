package nifti

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// Data type codes of the NIfTI-1 header (nifti1.h) that this package handles.
const (
	DTUint8   = 2
	DTInt16   = 4
	DTInt32   = 8
	DTFloat32 = 16
	DTFloat64 = 64
	DTInt8    = 256
	DTUint16  = 512
	DTUint32  = 768
)

// ErrFormat is returned (wrapped) for input that is not a NIfTI-1 volume this
// package can read.
var ErrFormat = errors.New("nifti: not a readable NIfTI-1 volume")

// maxVoxels bounds what a header may ask us to allocate (2^31 voxels).
const maxVoxels = 1 << 31

// Volume is one 3D scalar volume. Data is in NIfTI order: x fastest, then y,
// then z; values have scl_slope/scl_inter applied.
type Volume struct {
	Dims     [3]int
	Spacing  [3]float64
	Affine   [4][4]float64 // voxel index (i,j,k,1) -> RAS+ mm
	Data     []float32
	DataType int16 // the stored data type of the file read
}

// Index returns the offset of voxel (i,j,k) in Data.
func (v *Volume) Index(i, j, k int) int { return i + v.Dims[0]*(j+v.Dims[1]*k) }

// ReadFile reads a .nii or .nii.gz file (gzip is detected from the content).
func ReadFile(path string) (*Volume, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("nifti: %w", err)
	}
	defer f.Close()
	v, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, filepath.Base(path))
	}
	return v, nil
}

// Read reads a single-file NIfTI-1 volume, gzip-compressed or not.
func Read(r io.Reader) (*Volume, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, err := br.Peek(2)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	var src io.Reader = br
	if magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %v", ErrFormat, err)
		}
		defer gz.Close()
		src = gz
	}
	hdr := make([]byte, 348)
	if _, err := io.ReadFull(src, hdr); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrFormat, err)
	}
	var bo binary.ByteOrder = binary.LittleEndian
	switch {
	case binary.LittleEndian.Uint32(hdr[0:4]) == 348:
	case binary.BigEndian.Uint32(hdr[0:4]) == 348:
		bo = binary.BigEndian
	default:
		return nil, fmt.Errorf("%w: sizeof_hdr is not 348", ErrFormat)
	}
	if m := string(hdr[344:347]); m != "n+1" {
		return nil, fmt.Errorf("%w: magic %q (want \"n+1\", a single-file NIfTI-1)", ErrFormat, strings.TrimRight(m, "\x00"))
	}
	i16 := func(off int) int16 { return int16(bo.Uint16(hdr[off:])) }
	f32 := func(off int) float64 { return float64(math.Float32frombits(bo.Uint32(hdr[off:]))) }
	ndim := int(i16(40))
	if ndim < 1 || ndim > 7 {
		return nil, fmt.Errorf("%w: dim[0]=%d (want 1..7)", ErrFormat, ndim)
	}
	v := &Volume{Dims: [3]int{1, 1, 1}}
	for d := 0; d < ndim; d++ {
		n := int(i16(42 + 2*d))
		if n < 1 {
			return nil, fmt.Errorf("%w: dim[%d]=%d", ErrFormat, d+1, n)
		}
		if d < 3 {
			v.Dims[d] = n
		} else if n != 1 {
			return nil, fmt.Errorf("%w: dim[%d]=%d: only single 3D volumes are supported", ErrFormat, d+1, n)
		}
	}
	v.DataType = i16(70)
	bitpix := int(i16(72))
	for d := 0; d < 3; d++ {
		s := math.Abs(f32(80 + 4*d))
		if s == 0 || math.IsNaN(s) || math.IsInf(s, 0) {
			s = 1
		}
		v.Spacing[d] = s
	}
	voxOffset := int(f32(108))
	slope, inter := f32(112), f32(116)
	if slope == 0 || math.IsNaN(slope) {
		slope, inter = 1, 0
	}
	qform, sform := i16(252), i16(254)
	switch {
	case sform > 0:
		for r := 0; r < 3; r++ {
			for c := 0; c < 4; c++ {
				v.Affine[r][c] = f32(280 + 16*r + 4*c)
			}
		}
	case qform > 0:
		v.Affine = quaternAffine(f32(256), f32(260), f32(264), f32(268), f32(272), f32(276), f32(76), v.Spacing)
	default:
		for d := 0; d < 3; d++ {
			v.Affine[d][d] = v.Spacing[d]
		}
	}
	v.Affine[3][3] = 1
	size, ok := typeSize(v.DataType)
	if !ok {
		return nil, fmt.Errorf("%w: datatype %d is not supported (want uint8, int8, int16, uint16, int32, uint32, float32 or float64)", ErrFormat, v.DataType)
	}
	if bitpix != 8*size {
		return nil, fmt.Errorf("%w: bitpix %d does not match datatype %d", ErrFormat, bitpix, v.DataType)
	}
	n := v.Dims[0] * v.Dims[1] * v.Dims[2]
	if n <= 0 || n > maxVoxels {
		return nil, fmt.Errorf("%w: %v voxels is out of range", ErrFormat, v.Dims)
	}
	if voxOffset < 348 {
		return nil, fmt.Errorf("%w: vox_offset %d is before the end of the header", ErrFormat, voxOffset)
	}
	if _, err := io.CopyN(io.Discard, src, int64(voxOffset-348)); err != nil {
		return nil, fmt.Errorf("%w: extension: %v", ErrFormat, err)
	}
	raw := make([]byte, n*size)
	if _, err := io.ReadFull(src, raw); err != nil {
		return nil, fmt.Errorf("%w: voxel data (want %d bytes): %v", ErrFormat, len(raw), err)
	}
	v.Data = make([]float32, n)
	for i := range v.Data {
		var x float64
		b := raw[i*size:]
		switch v.DataType {
		case DTUint8:
			x = float64(b[0])
		case DTInt8:
			x = float64(int8(b[0]))
		case DTInt16:
			x = float64(int16(bo.Uint16(b)))
		case DTUint16:
			x = float64(bo.Uint16(b))
		case DTInt32:
			x = float64(int32(bo.Uint32(b)))
		case DTUint32:
			x = float64(bo.Uint32(b))
		case DTFloat32:
			x = float64(math.Float32frombits(bo.Uint32(b)))
		case DTFloat64:
			x = math.Float64frombits(bo.Uint64(b))
		}
		v.Data[i] = float32(x*slope + inter)
	}
	return v, nil
}

func typeSize(dt int16) (int, bool) {
	switch dt {
	case DTUint8, DTInt8:
		return 1, true
	case DTInt16, DTUint16:
		return 2, true
	case DTInt32, DTUint32, DTFloat32:
		return 4, true
	case DTFloat64:
		return 8, true
	}
	return 0, false
}

// quaternAffine builds the qform matrix (NIfTI-1 method 2).
func quaternAffine(b, c, d, qx, qy, qz, qfac float64, sp [3]float64) [4][4]float64 {
	a := 1 - (b*b + c*c + d*d)
	if a < 1e-7 {
		a = 1 / math.Sqrt(b*b+c*c+d*d)
		b, c, d = b*a, c*a, d*a
		a = 0
	} else {
		a = math.Sqrt(a)
	}
	if qfac < 0 {
		qfac = -1
	} else {
		qfac = 1
	}
	x, y, z := sp[0], sp[1], sp[2]*qfac
	var m [4][4]float64
	m[0] = [4]float64{(a*a + b*b - c*c - d*d) * x, 2 * (b*c - a*d) * y, 2 * (b*d + a*c) * z, qx}
	m[1] = [4]float64{2 * (b*c + a*d) * x, (a*a + c*c - b*b - d*d) * y, 2 * (c*d - a*b) * z, qy}
	m[2] = [4]float64{2 * (b*d - a*c) * x, 2 * (c*d + a*b) * y, (a*a + d*d - c*c - b*b) * z, qz}
	m[3] = [4]float64{0, 0, 0, 1}
	return m
}

// Header is what Write needs besides the voxels.
type Header struct {
	Dims    [3]int
	Spacing [3]float64
	Affine  [4][4]float64 // voxel -> RAS+ mm, written as the sform (code 2, aligned)
}

// WriteFloat32 writes a float32 volume to path (gzip when path ends in .gz),
// through a temporary file renamed into place.
func WriteFloat32(path string, h Header, data []float32) error {
	if len(data) != h.Dims[0]*h.Dims[1]*h.Dims[2] {
		return fmt.Errorf("nifti: %d values for dims %v", len(data), h.Dims)
	}
	buf := make([]byte, 4*len(data))
	for i, x := range data {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(x))
	}
	return writeFile(path, h, DTFloat32, 32, buf)
}

// WriteUint16 writes a uint16 volume (a label map) to path.
func WriteUint16(path string, h Header, data []uint16) error {
	if len(data) != h.Dims[0]*h.Dims[1]*h.Dims[2] {
		return fmt.Errorf("nifti: %d values for dims %v", len(data), h.Dims)
	}
	buf := make([]byte, 2*len(data))
	for i, x := range data {
		binary.LittleEndian.PutUint16(buf[2*i:], x)
	}
	return writeFile(path, h, DTUint16, 16, buf)
}

// encodeHeader returns the header plus the 4 extension bytes for a volume of the
// given type.
func encodeHeader(h Header, dt int16, bitpix int16) []byte {
	b := make([]byte, 352)
	le := binary.LittleEndian
	le.PutUint32(b[0:], 348)
	le.PutUint16(b[40:], 3)
	for d := 0; d < 3; d++ {
		le.PutUint16(b[42+2*d:], uint16(h.Dims[d]))
	}
	for d := 3; d < 7; d++ {
		le.PutUint16(b[42+2*d:], 1)
	}
	le.PutUint16(b[70:], uint16(dt))
	le.PutUint16(b[72:], uint16(bitpix))
	pf := func(off int, x float64) { le.PutUint32(b[off:], math.Float32bits(float32(x))) }
	pf(76, 1) // qfac
	for d := 0; d < 3; d++ {
		pf(80+4*d, h.Spacing[d])
	}
	pf(108, 352)
	pf(112, 1)  // scl_slope
	b[123] = 10 // xyzt_units: mm + s
	le.PutUint16(b[252:], 0)
	le.PutUint16(b[254:], 2)
	for r := 0; r < 3; r++ {
		for c := 0; c < 4; c++ {
			pf(280+16*r+4*c, h.Affine[r][c])
		}
	}
	copy(b[148:], "metsentry phantom")
	copy(b[344:], "n+1\x00")
	return b
}

func writeFile(path string, h Header, dt, bitpix int16, body []byte) error {
	var out bytes.Buffer
	var w io.Writer = &out
	var gz *gzip.Writer
	if strings.HasSuffix(path, ".gz") {
		gz, _ = gzip.NewWriterLevel(&out, gzip.BestSpeed)
		w = gz
	}
	if _, err := w.Write(encodeHeader(h, dt, bitpix)); err != nil {
		return fmt.Errorf("nifti: %w", err)
	}
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("nifti: %w", err)
	}
	if gz != nil {
		if err := gz.Close(); err != nil {
			return fmt.Errorf("nifti: %w", err)
		}
	}
	return atomicWrite(path, out.Bytes())
}

// atomicWrite is write-temp, fsync, rename, fsync-dir.
func atomicWrite(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".nifti-*")
	if err != nil {
		return fmt.Errorf("nifti: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("nifti: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("nifti: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("nifti: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("nifti: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
