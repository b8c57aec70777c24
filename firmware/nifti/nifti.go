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

	"metsentry/firmware/geom"
)

// NIfTI-1 datatype codes (nifti1.h).
const (
	DTUint8   int16 = 2
	DTInt16   int16 = 4
	DTInt32   int16 = 8
	DTFloat32 int16 = 16
	DTFloat64 int16 = 64
	DTInt8    int16 = 256
	DTUint16  int16 = 512
	DTUint32  int16 = 768
)

const (
	headerSize = 348
	voxOffset  = 352 // header + 4-byte extension flag
	// maxBytes bounds the voxel data one file may declare (4 GiB), so a
	// corrupt header cannot ask for an absurd allocation.
	maxBytes = 4 << 30
)

// ErrFormat wraps every problem with the file's content (as opposed to I/O).
var ErrFormat = errors.New("nifti: bad file")

// Image is one NIfTI volume (or a 4D series of volumes on the same grid).
type Image struct {
	// Grid holds the three spatial sizes and the voxel→patient LPS affine.
	Grid geom.Grid
	// Volumes is the size of the fourth dimension (1 for a 3D image).
	Volumes int
	// Data holds Grid.Len()*Volumes values, x fastest, then y, z, volume,
	// with scl_slope/scl_inter applied.
	Data []float32
	// Datatype is the stored type: what Read found, what Write stores (0
	// means DTFloat32). Write accepts DTFloat32, DTUint8 and DTInt16.
	Datatype int16
	// Description is the 80-byte descrip field.
	Description string
}

// Read reads a .nii or .nii.gz file (gzip is recognised by its magic bytes).
func Read(path string) (*Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("nifti: %w", err)
	}
	defer f.Close()
	img, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return img, nil
}

// Decode reads a NIfTI-1 single-file image, gzip-compressed or not, from r.
func Decode(r io.Reader) (*Image, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("nifti: gzip: %w", err)
		}
		defer zr.Close()
		return decode(zr)
	}
	return decode(br)
}

func decode(r io.Reader) (*Image, error) {
	var h [voxOffset]byte
	if _, err := io.ReadFull(r, h[:headerSize]); err != nil {
		return nil, fmt.Errorf("%w: header: %v (expected %d bytes)", ErrFormat, err, headerSize)
	}
	var bo binary.ByteOrder = binary.LittleEndian
	switch {
	case binary.LittleEndian.Uint32(h[0:]) == headerSize:
	case binary.BigEndian.Uint32(h[0:]) == headerSize:
		bo = binary.BigEndian
	default:
		return nil, fmt.Errorf("%w: sizeof_hdr is not 348 in either byte order (not NIfTI-1)", ErrFormat)
	}
	switch magic := string(h[344:348]); magic {
	case "n+1\x00":
	case "ni1\x00":
		return nil, fmt.Errorf("%w: a two-file .hdr/.img pair is not supported (convert to a single .nii)", ErrFormat)
	default:
		return nil, fmt.Errorf("%w: magic %q is not \"n+1\" (NIfTI-1 single file)", ErrFormat, strings.TrimRight(magic, "\x00"))
	}
	i16 := func(off int) int16 { return int16(bo.Uint16(h[off:])) }
	f32 := func(off int) float64 { return float64(math.Float32frombits(bo.Uint32(h[off:]))) }

	var dim [8]int
	for i := range dim {
		dim[i] = int(i16(40 + 2*i))
	}
	if dim[0] < 1 || dim[0] > 7 {
		return nil, fmt.Errorf("%w: dim[0] %d is not 1 to 7", ErrFormat, dim[0])
	}
	for i := 1; i <= 7; i++ {
		if i > dim[0] || dim[i] == 0 {
			dim[i] = 1
		}
		if dim[i] < 0 {
			return nil, fmt.Errorf("%w: dim[%d] %d is negative", ErrFormat, i, dim[i])
		}
	}
	if dim[5]*dim[6]*dim[7] != 1 {
		return nil, fmt.Errorf("%w: dims 5 to 7 (%d, %d, %d) are not supported (3D or 4D only)", ErrFormat, dim[5], dim[6], dim[7])
	}
	dt := i16(70)
	size := typeSize(dt)
	if size == 0 {
		return nil, fmt.Errorf("%w: datatype %d is not supported (integer or real types only)", ErrFormat, dt)
	}
	n := int64(dim[1]) * int64(dim[2]) * int64(dim[3]) * int64(dim[4])
	if n*int64(size) > maxBytes {
		return nil, fmt.Errorf("%w: %d voxels of %d bytes exceed the %d byte limit", ErrFormat, n, size, int64(maxBytes))
	}
	off := f32(108)
	if !(off >= voxOffset && off <= 1<<24) || off != math.Trunc(off) {
		return nil, fmt.Errorf("%w: vox_offset %g is not a whole number from 352 to 16 MiB", ErrFormat, off)
	}
	// Skip the extension flag and any extensions.
	if _, err := io.CopyN(io.Discard, r, int64(off)-headerSize); err != nil {
		return nil, fmt.Errorf("%w: extensions: %v", ErrFormat, err)
	}
	need := n * int64(size)
	// ReadAll through a limit grows the buffer with the data actually
	// present, so a lying header cannot force a large allocation.
	raw, err := io.ReadAll(io.LimitReader(r, need))
	if err != nil {
		return nil, fmt.Errorf("nifti: data: %w", err)
	}
	if int64(len(raw)) != need {
		return nil, fmt.Errorf("%w: data is %d bytes, header declares %d", ErrFormat, len(raw), need)
	}

	slope, inter := f32(112), f32(116)
	if slope == 0 || math.IsNaN(slope) || math.IsInf(slope, 0) {
		slope, inter = 1, 0
	}
	if math.IsNaN(inter) || math.IsInf(inter, 0) {
		inter = 0
	}
	data := make([]float32, n)
	convert(data, raw, dt, bo, slope, inter)

	img := &Image{
		Grid:        geom.Grid{Dims: [3]int{dim[1], dim[2], dim[3]}},
		Volumes:     dim[4],
		Data:        data,
		Datatype:    dt,
		Description: strings.TrimRight(string(bytes.TrimRight(h[148:228], "\x00")), " "),
	}
	ras, err := headerAffine(h[:], f32, i16)
	if err != nil {
		return nil, err
	}
	img.Grid.Affine = rasToLPS(ras)
	return img, nil
}

// headerAffine returns the RAS affine: sform, else qform, else pixdim.
func headerAffine(h []byte, f32 func(int) float64, i16 func(int) int16) (geom.Affine, error) {
	var pix [8]float64
	for i := range pix {
		pix[i] = f32(76 + 4*i)
	}
	var a geom.Affine
	switch {
	case i16(254) > 0:
		for r := 0; r < 3; r++ {
			for c := 0; c < 4; c++ {
				a[r][c] = f32(280 + 16*r + 4*c)
			}
		}
	case i16(252) > 0:
		b, c, d := f32(256), f32(260), f32(264)
		a = quaternToAffine(b, c, d, f32(268), f32(272), f32(276), pix[1], pix[2], pix[3], pix[0])
	default:
		for i := 0; i < 3; i++ {
			s := pix[i+1]
			if s == 0 {
				s = 1
			}
			a[i][i] = math.Abs(s)
		}
	}
	for r := range a {
		for _, v := range a[r] {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return geom.Affine{}, fmt.Errorf("%w: the spatial transform holds a non-finite value", ErrFormat)
			}
		}
	}
	if math.Abs(a.Det()) < 1e-12 {
		return geom.Affine{}, fmt.Errorf("%w: the spatial transform is singular (zero voxel size?)", ErrFormat)
	}
	return a, nil
}

// quaternToAffine follows nifti1_io's quatern_to_mat44.
func quaternToAffine(b, c, d, qx, qy, qz, dx, dy, dz, qfac float64) geom.Affine {
	a := 1 - (b*b + c*c + d*d)
	if a < 1e-7 {
		s := 1 / math.Sqrt(b*b+c*c+d*d)
		b, c, d = b*s, c*s, d*s
		a = 0
	} else {
		a = math.Sqrt(a)
	}
	if dx <= 0 {
		dx = 1
	}
	if dy <= 0 {
		dy = 1
	}
	if dz <= 0 {
		dz = 1
	}
	if qfac < 0 {
		dz = -dz
	}
	return geom.Affine{
		{(a*a + b*b - c*c - d*d) * dx, 2 * (b*c - a*d) * dy, 2 * (b*d + a*c) * dz, qx},
		{2 * (b*c + a*d) * dx, (a*a + c*c - b*b - d*d) * dy, 2 * (c*d - a*b) * dz, qy},
		{2 * (b*d - a*c) * dx, 2 * (c*d + a*b) * dy, (a*a + d*d - c*c - b*b) * dz, qz},
	}
}

// rasToLPS converts between RAS and LPS affines (its own inverse).
func rasToLPS(a geom.Affine) geom.Affine {
	for c := 0; c < 4; c++ {
		a[0][c], a[1][c] = -a[0][c], -a[1][c]
	}
	return a
}

func typeSize(dt int16) int {
	switch dt {
	case DTUint8, DTInt8:
		return 1
	case DTInt16, DTUint16:
		return 2
	case DTInt32, DTUint32, DTFloat32:
		return 4
	case DTFloat64:
		return 8
	}
	return 0
}

func convert(dst []float32, raw []byte, dt int16, bo binary.ByteOrder, slope, inter float64) {
	scaled := slope != 1 || inter != 0
	for i := range dst {
		var v float64
		switch dt {
		case DTUint8:
			v = float64(raw[i])
		case DTInt8:
			v = float64(int8(raw[i]))
		case DTInt16:
			v = float64(int16(bo.Uint16(raw[2*i:])))
		case DTUint16:
			v = float64(bo.Uint16(raw[2*i:]))
		case DTInt32:
			v = float64(int32(bo.Uint32(raw[4*i:])))
		case DTUint32:
			v = float64(bo.Uint32(raw[4*i:]))
		case DTFloat32:
			v = float64(math.Float32frombits(bo.Uint32(raw[4*i:])))
		case DTFloat64:
			v = math.Float64frombits(bo.Uint64(raw[8*i:]))
		}
		if scaled {
			v = v*slope + inter
		}
		dst[i] = float32(v)
	}
}

// Write writes img to path as NIfTI-1, gzip-compressed when the name ends in
// .gz. The file is written to a temporary name, synced and renamed, so a
// reader never sees half a file.
func Write(path string, img *Image) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("nifti: %w", err)
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriterSize(tmp, 1<<16)
	var w io.Writer = bw
	var zw *gzip.Writer
	if strings.HasSuffix(path, ".gz") {
		zw = gzip.NewWriter(bw)
		w = zw
	}
	err = Encode(w, img)
	if err == nil && zw != nil {
		err = zw.Close()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("nifti: write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// Encode writes img as an uncompressed NIfTI-1 single file to w.
func Encode(w io.Writer, img *Image) error {
	vols := img.Volumes
	if vols == 0 {
		vols = 1
	}
	d := img.Grid.Dims
	for i, n := range d {
		if n < 1 || n > math.MaxInt16 {
			return fmt.Errorf("nifti: grid size %d on axis %d must be 1 to 32767", n, i)
		}
	}
	if vols > math.MaxInt16 {
		return fmt.Errorf("nifti: %d volumes exceed 32767", vols)
	}
	if want := img.Grid.Len() * vols; len(img.Data) != want {
		return fmt.Errorf("nifti: %d values for a %dx%dx%dx%d image (want %d)", len(img.Data), d[0], d[1], d[2], vols, want)
	}
	dt := img.Datatype
	if dt == 0 {
		dt = DTFloat32
	}
	if dt != DTFloat32 && dt != DTUint8 && dt != DTInt16 {
		return fmt.Errorf("nifti: writing datatype %d is not supported (use float32, uint8 or int16)", dt)
	}
	ras := rasToLPS(img.Grid.Affine)
	if math.Abs(ras.Det()) < 1e-12 {
		return fmt.Errorf("nifti: the grid's affine is singular")
	}

	var h [voxOffset]byte
	le := binary.LittleEndian
	p16 := func(off int, v int16) { le.PutUint16(h[off:], uint16(v)) }
	pf := func(off int, v float64) { le.PutUint32(h[off:], math.Float32bits(float32(v))) }
	le.PutUint32(h[0:], headerSize)
	h[38] = 'r'
	ndim := int16(3)
	if vols > 1 {
		ndim = 4
	}
	dims := [8]int16{ndim, int16(d[0]), int16(d[1]), int16(d[2]), int16(vols), 1, 1, 1}
	for i, v := range dims {
		p16(40+2*i, v)
	}
	size := typeSize(dt)
	p16(70, dt)
	p16(72, int16(8*size))

	// qform: the rigid part of the affine (columns normalised; a left-handed
	// grid sets qfac -1 and flips the third column).
	sp := ras.Spacing()
	var rm [3][3]float64
	for r := 0; r < 3; r++ {
		for c := 0; c < 3; c++ {
			rm[r][c] = ras[r][c] / sp[c]
		}
	}
	qfac := 1.0
	if ras.Det() < 0 {
		qfac = -1
		for r := 0; r < 3; r++ {
			rm[r][2] = -rm[r][2]
		}
	}
	b, c, dd := rotToQuatern(orthonormalise(rm))
	pix := [8]float64{qfac, sp[0], sp[1], sp[2], 1, 1, 1, 1}
	for i, v := range pix {
		pf(76+4*i, v)
	}
	pf(108, voxOffset)
	pf(112, 1)
	pf(116, 0)
	h[123] = 2 | 8 // mm, seconds
	copy(h[148:228], img.Description)
	p16(252, 1)
	p16(254, 1)
	pf(256, b)
	pf(260, c)
	pf(264, dd)
	pf(268, ras[0][3])
	pf(272, ras[1][3])
	pf(276, ras[2][3])
	for r := 0; r < 3; r++ {
		for col := 0; col < 4; col++ {
			pf(280+16*r+4*col, ras[r][col])
		}
	}
	copy(h[344:348], "n+1\x00")
	if _, err := w.Write(h[:]); err != nil {
		return fmt.Errorf("nifti: %w", err)
	}

	buf := make([]byte, 0, 1<<16)
	for i, v := range img.Data {
		switch dt {
		case DTFloat32:
			buf = le.AppendUint32(buf, math.Float32bits(v))
		case DTUint8:
			buf = append(buf, uint8(clampRound(v, 0, math.MaxUint8)))
		case DTInt16:
			buf = le.AppendUint16(buf, uint16(int16(clampRound(v, math.MinInt16, math.MaxInt16))))
		}
		if len(buf) >= 1<<16-8 || i == len(img.Data)-1 {
			if _, err := w.Write(buf); err != nil {
				return fmt.Errorf("nifti: %w", err)
			}
			buf = buf[:0]
		}
	}
	return nil
}

func clampRound(v float32, lo, hi float64) float64 {
	f := math.Round(float64(v))
	if math.IsNaN(f) {
		return 0
	}
	return math.Max(lo, math.Min(hi, f))
}

// orthonormalise makes the columns of m orthonormal (Gram-Schmidt), so a
// slightly sheared affine still yields a valid rotation for the qform.
func orthonormalise(m [3][3]float64) [3][3]float64 {
	col := func(c int) geom.Vec3 { return geom.Vec3{m[0][c], m[1][c], m[2][c]} }
	x := col(0)
	x = x.Scale(1 / x.Norm())
	y := col(1)
	y = y.Sub(x.Scale(x.Dot(y)))
	y = y.Scale(1 / y.Norm())
	z := x.Cross(y)
	var o [3][3]float64
	for r := 0; r < 3; r++ {
		o[r] = [3]float64{x[r], y[r], z[r]}
	}
	return o
}

// rotToQuatern follows nifti1_io's mat44_to_quatern for a proper rotation.
func rotToQuatern(r [3][3]float64) (b, c, d float64) {
	a := r[0][0] + r[1][1] + r[2][2] + 1
	if a > 0.5 {
		a = 0.5 * math.Sqrt(a)
		b = 0.25 * (r[2][1] - r[1][2]) / a
		c = 0.25 * (r[0][2] - r[2][0]) / a
		d = 0.25 * (r[1][0] - r[0][1]) / a
	} else {
		xd := 1 + r[0][0] - (r[1][1] + r[2][2])
		yd := 1 + r[1][1] - (r[0][0] + r[2][2])
		zd := 1 + r[2][2] - (r[0][0] + r[1][1])
		switch {
		case xd > 1:
			b = 0.5 * math.Sqrt(xd)
			c = 0.25 * (r[0][1] + r[1][0]) / b
			d = 0.25 * (r[0][2] + r[2][0]) / b
			a = 0.25 * (r[2][1] - r[1][2]) / b
		case yd > 1:
			c = 0.5 * math.Sqrt(yd)
			b = 0.25 * (r[0][1] + r[1][0]) / c
			d = 0.25 * (r[1][2] + r[2][1]) / c
			a = 0.25 * (r[0][2] - r[2][0]) / c
		default:
			d = 0.5 * math.Sqrt(zd)
			b = 0.25 * (r[0][2] + r[2][0]) / d
			c = 0.25 * (r[1][2] + r[2][1]) / d
			a = 0.25 * (r[1][0] - r[0][1]) / d
		}
		if a < 0 {
			b, c, d = -b, -c, -d
		}
	}
	return b, c, d
}
