package volume

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"metsentry/firmware/geom"
)

// Transfer syntaxes whose pixel data Assemble decodes. Everything else
// (JPEG baseline/lossless, JPEG-LS, JPEG 2000, RLE, MPEG, HTJ2K) is refused
// with ReasonTransferSyntax naming the syntax.
const (
	tsImplicitLE = "1.2.840.10008.1.2"
	tsExplicitLE = "1.2.840.10008.1.2.1"
	tsDeflatedLE = "1.2.840.10008.1.2.1.99"
	tsExplicitBE = "1.2.840.10008.1.2.2"
)

var transferSyntaxNames = map[string]string{
	tsImplicitLE:             "Implicit VR Little Endian",
	tsExplicitLE:             "Explicit VR Little Endian",
	tsDeflatedLE:             "Deflated Explicit VR Little Endian",
	tsExplicitBE:             "Explicit VR Big Endian",
	"1.2.840.10008.1.2.4.50": "JPEG Baseline (Process 1)",
	"1.2.840.10008.1.2.4.51": "JPEG Extended (Process 2 & 4)",
	"1.2.840.10008.1.2.4.57": "JPEG Lossless, Non-Hierarchical (Process 14)",
	"1.2.840.10008.1.2.4.70": "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14, Selection Value 1)",
	"1.2.840.10008.1.2.4.80": "JPEG-LS Lossless",
	"1.2.840.10008.1.2.4.81": "JPEG-LS Lossy (Near-Lossless)",
	"1.2.840.10008.1.2.4.90": "JPEG 2000 (Lossless Only)",
	"1.2.840.10008.1.2.4.91": "JPEG 2000",
	"1.2.840.10008.1.2.5":    "RLE Lossless",
}

// TransferSyntaxName returns the name of a transfer syntax UID, or the UID.
func TransferSyntaxName(uid string) string {
	if n, ok := transferSyntaxNames[uid]; ok {
		return n
	}
	return uid
}

// DICOM attributes read here (the library's tag table holds them too, but
// literals keep this file readable against PS3.6).
var (
	tTransferSyntax   = tag.Tag{Group: 0x0002, Element: 0x0010}
	tSOPClass         = tag.Tag{Group: 0x0008, Element: 0x0016}
	tSOPInstance      = tag.Tag{Group: 0x0008, Element: 0x0018}
	tModality         = tag.Tag{Group: 0x0008, Element: 0x0060}
	tSliceThickness   = tag.Tag{Group: 0x0018, Element: 0x0050}
	tStudyUID         = tag.Tag{Group: 0x0020, Element: 0x000D}
	tSeriesUID        = tag.Tag{Group: 0x0020, Element: 0x000E}
	tPosition         = tag.Tag{Group: 0x0020, Element: 0x0032}
	tOrientation      = tag.Tag{Group: 0x0020, Element: 0x0037}
	tFrameOfRef       = tag.Tag{Group: 0x0020, Element: 0x0052}
	tInStackPos       = tag.Tag{Group: 0x0020, Element: 0x9057}
	tDimIndexValues   = tag.Tag{Group: 0x0020, Element: 0x9157}
	tDimIndexPointer  = tag.Tag{Group: 0x0020, Element: 0x9165}
	tDimIndexSeq      = tag.Tag{Group: 0x0020, Element: 0x9222}
	tFrameContent     = tag.Tag{Group: 0x0020, Element: 0x9111}
	tPlanePosition    = tag.Tag{Group: 0x0020, Element: 0x9113}
	tPlaneOrientation = tag.Tag{Group: 0x0020, Element: 0x9116}
	tSamplesPerPixel  = tag.Tag{Group: 0x0028, Element: 0x0002}
	tPhotometric      = tag.Tag{Group: 0x0028, Element: 0x0004}
	tNumberOfFrames   = tag.Tag{Group: 0x0028, Element: 0x0008}
	tRows             = tag.Tag{Group: 0x0028, Element: 0x0010}
	tColumns          = tag.Tag{Group: 0x0028, Element: 0x0011}
	tPixelSpacing     = tag.Tag{Group: 0x0028, Element: 0x0030}
	tBitsAllocated    = tag.Tag{Group: 0x0028, Element: 0x0100}
	tPixelRep         = tag.Tag{Group: 0x0028, Element: 0x0103}
	tRescaleIntercept = tag.Tag{Group: 0x0028, Element: 0x1052}
	tRescaleSlope     = tag.Tag{Group: 0x0028, Element: 0x1053}
	tPixelMeasures    = tag.Tag{Group: 0x0028, Element: 0x9110}
	tPixelValueXform  = tag.Tag{Group: 0x0028, Element: 0x9145}
	tSharedGroups     = tag.Tag{Group: 0x5200, Element: 0x9229}
	tPerFrameGroups   = tag.Tag{Group: 0x5200, Element: 0x9230}
	tPixelData        = tag.Tag{Group: 0x7FE0, Element: 0x0010}
)

// frameInfo is one 2D frame: a classic instance, or one frame of a
// multi-frame instance.
type frameInfo struct {
	sopUID      string
	frame       int // 1-based frame number in a multi-frame instance, 0 otherwise
	pos         geom.Vec3
	row, col    geom.Vec3
	spacing     [2]float64 // PixelSpacing: row spacing, column spacing
	thickness   float64
	slope, icpt float64
	rows, cols  int
	pix         []byte // this frame's stored pixel bytes
	dimIdx      []int  // DimensionIndexValues (enhanced), nil otherwise
	inst        *instance
}

// instance is what one file contributes.
type instance struct {
	path       string
	seriesUID  string
	studyUID   string
	forUID     string
	sopClass   string
	modality   string
	ts         string
	bitsAlloc  int
	pixelRep   int
	bo         binary.ByteOrder
	multiframe bool
	stackDim   int // index in dimIdx of the in-stack position dimension, -1 if none
	frames     []frameInfo
	geomErr    error // a frame lacks geometry: unusable for a volume
}

// elements is a flat list of one dataset level.
type elements []*dicom.Element

func (es elements) find(t tag.Tag) *dicom.Element {
	for _, e := range es {
		if e.Tag == t {
			return e
		}
	}
	return nil
}

func (es elements) str(t tag.Tag) string {
	e := es.find(t)
	if e == nil {
		return ""
	}
	if v, ok := e.Value.GetValue().([]string); ok && len(v) > 0 {
		return strings.TrimRight(strings.TrimSpace(v[0]), "\x00")
	}
	return ""
}

// floats reads a DS/FD/FL or IS value as float64s.
func (es elements) floats(t tag.Tag) []float64 {
	e := es.find(t)
	if e == nil {
		return nil
	}
	switch v := e.Value.GetValue().(type) {
	case []string:
		out := make([]float64, 0, len(v))
		for _, s := range v {
			f, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimRight(s, "\x00")), 64)
			if err != nil {
				return nil
			}
			out = append(out, f)
		}
		return out
	case []float64:
		return v
	case []int:
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x)
		}
		return out
	}
	return nil
}

func (es elements) ints(t tag.Tag) []int {
	e := es.find(t)
	if e == nil {
		return nil
	}
	switch v := e.Value.GetValue().(type) {
	case []int:
		return v
	case []string:
		out := make([]int, 0, len(v))
		for _, s := range v {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimRight(s, "\x00")))
			if err != nil {
				return nil
			}
			out = append(out, n)
		}
		return out
	}
	return nil
}

func (es elements) int1(t tag.Tag, def int) int {
	if v := es.ints(t); len(v) > 0 {
		return v[0]
	}
	return def
}

// items returns the items of a sequence.
func (es elements) items(t tag.Tag) []elements {
	e := es.find(t)
	if e == nil {
		return nil
	}
	seq, ok := e.Value.GetValue().([]*dicom.SequenceItemValue)
	if !ok {
		return nil
	}
	out := make([]elements, len(seq))
	for i, it := range seq {
		out[i], _ = it.GetValue().([]*dicom.Element)
	}
	return out
}

// item returns the first item of a sequence nested in a functional group.
func (es elements) item(t tag.Tag) elements {
	if its := es.items(t); len(its) > 0 {
		return its[0]
	}
	return nil
}

// readInstance parses one file and splits its pixel data into frames.
func readInstance(path string) (in *instance, err error) {
	// A malformed file must give a refusal, never a crashed job: the parser
	// indexes values it has not checked (MustGetInts and the like).
	defer func() {
		if r := recover(); r != nil {
			in, err = nil, refuse(ReasonUnreadable, "%s is a damaged DICOM file (the parser failed: %v)", filepath.Base(path), r)
		}
	}()
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("volume: %w", err)
	}
	if err := checkStructure(raw); err != nil {
		return nil, refuse(ReasonUnreadable, "%s is not a well-formed DICOM file: %v", filepath.Base(path), err)
	}
	ds, err := dicom.Parse(bytes.NewReader(raw), int64(len(raw)), nil, dicom.SkipProcessingPixelDataValue())
	if err != nil {
		return nil, refuse(ReasonUnreadable, "%s is not a readable DICOM file: %v", filepath.Base(path), err)
	}
	es := elements(ds.Elements)
	in = &instance{
		path:      path,
		seriesUID: es.str(tSeriesUID),
		studyUID:  es.str(tStudyUID),
		forUID:    es.str(tFrameOfRef),
		sopClass:  es.str(tSOPClass),
		modality:  es.str(tModality),
		ts:        es.str(tTransferSyntax),
		bitsAlloc: es.int1(tBitsAllocated, 0),
		pixelRep:  es.int1(tPixelRep, 0),
		stackDim:  -1,
	}
	name := filepath.Base(path)
	switch in.ts {
	case tsImplicitLE, tsExplicitLE, tsDeflatedLE, "":
		in.bo = binary.LittleEndian
	case tsExplicitBE:
		in.bo = binary.BigEndian
	default:
		return nil, refuse(ReasonTransferSyntax, "%s uses transfer syntax %s (%s), which this firmware does not decode; send uncompressed (Explicit VR Little Endian) images", name, TransferSyntaxName(in.ts), in.ts)
	}
	if spp := es.int1(tSamplesPerPixel, 1); spp != 1 {
		return nil, refuse(ReasonPixelFormat, "%s has %d samples per pixel; only greyscale images (1 sample) are used", name, spp)
	}
	if pi := es.str(tPhotometric); pi != "" && pi != "MONOCHROME2" && pi != "MONOCHROME1" {
		return nil, refuse(ReasonPixelFormat, "%s has photometric interpretation %s; only MONOCHROME images are used", name, pi)
	}
	switch in.bitsAlloc {
	case 8, 16, 32:
	default:
		return nil, refuse(ReasonPixelFormat, "%s has %d bits allocated; 8, 16 or 32 are supported", name, in.bitsAlloc)
	}
	rows, cols := es.int1(tRows, 0), es.int1(tColumns, 0)
	if rows <= 0 || cols <= 0 || rows > 4096 || cols > 4096 {
		return nil, refuse(ReasonPixelFormat, "%s has %d rows and %d columns; 1 to 4096 expected", name, rows, cols)
	}
	nframes := es.int1(tNumberOfFrames, 1)
	if nframes < 1 || nframes > 10000 {
		return nil, refuse(ReasonPixelFormat, "%s declares %d frames", name, nframes)
	}
	pe := es.find(tPixelData)
	if pe == nil {
		return nil, refuse(ReasonPixelFormat, "%s has no pixel data", name)
	}
	info, ok := pe.Value.GetValue().(dicom.PixelDataInfo)
	if !ok || info.IsEncapsulated || !info.IntentionallyUnprocessed {
		return nil, refuse(ReasonPixelFormat, "%s has encapsulated (compressed) pixel data under transfer syntax %s", name, TransferSyntaxName(in.ts))
	}
	frameBytes := rows * cols * in.bitsAlloc / 8
	if len(info.UnprocessedValueData) < frameBytes*nframes {
		return nil, refuse(ReasonPixelFormat, "%s pixel data is %d bytes, %d frames of %dx%d at %d bits need %d", name, len(info.UnprocessedValueData), nframes, cols, rows, in.bitsAlloc, frameBytes*nframes)
	}

	sop := es.str(tSOPInstance)
	shared := es.item(tSharedGroups)
	perFrame := es.items(tPerFrameGroups)
	in.multiframe = perFrame != nil
	if in.multiframe {
		if len(perFrame) != nframes {
			return nil, refuse(ReasonMissingGeometry, "%s has %d frames but %d per-frame functional groups", name, nframes, len(perFrame))
		}
		for _, d := range es.items(tDimIndexSeq) {
			if p := d.find(tDimIndexPointer); p != nil {
				// The library reads an AT value as (group, element).
				if v, ok := p.Value.GetValue().([]int); ok && len(v) >= 2 && v[0] == int(tInStackPos.Group) && (v[1] == int(tInStackPos.Element) || v[1] == int(tPosition.Element)) {
					in.stackDim = slicesIndex(es.items(tDimIndexSeq), d)
				}
			}
		}
	} else if nframes != 1 {
		return nil, refuse(ReasonPixelFormat, "%s is a %s instance with %d frames; classic instances must hold one frame", name, in.sopClass, nframes)
	}

	in.frames = make([]frameInfo, nframes)
	for f := range in.frames {
		fi := &in.frames[f]
		fi.sopUID, fi.rows, fi.cols, fi.inst = sop, rows, cols, in
		fi.pix = info.UnprocessedValueData[f*frameBytes : (f+1)*frameBytes]
		// Attribute sources in order of precedence: the frame's own
		// functional groups, the shared ones, then the top level.
		var levels []elements
		if in.multiframe {
			fi.frame = f + 1
			pf := perFrame[f]
			levels = []elements{pf, shared, es}
			if fc := pf.item(tFrameContent); fc != nil {
				fi.dimIdx = fc.ints(tDimIndexValues)
			}
		} else {
			levels = []elements{es}
		}
		fi.slope, fi.icpt = 1, 0
		if s := lookup(levels, tPixelValueXform, tRescaleSlope); len(s) > 0 && s[0] != 0 && !math.IsNaN(s[0]) && !math.IsInf(s[0], 0) {
			fi.slope = s[0]
		}
		if c := lookup(levels, tPixelValueXform, tRescaleIntercept); len(c) > 0 && !math.IsNaN(c[0]) && !math.IsInf(c[0], 0) {
			fi.icpt = c[0]
		}
		pos := lookup(levels, tPlanePosition, tPosition)
		ori := lookup(levels, tPlaneOrientation, tOrientation)
		ps := lookup(levels, tPixelMeasures, tPixelSpacing)
		if len(pos) != 3 || len(ori) != 6 || len(ps) != 2 || !(ps[0] > 0 && ps[1] > 0) {
			// Kept for Assemble to report: the pixels are still readable.
			in.geomErr = refuse(ReasonMissingGeometry, "%s frame %d lacks ImagePositionPatient, ImageOrientationPatient or PixelSpacing (found %d, %d and %d values)", name, f+1, len(pos), len(ori), len(ps))
			continue
		}
		fi.pos = geom.Vec3{pos[0], pos[1], pos[2]}
		fi.row = geom.Vec3{ori[0], ori[1], ori[2]}
		fi.col = geom.Vec3{ori[3], ori[4], ori[5]}
		fi.spacing = [2]float64{ps[0], ps[1]}
		if th := lookup(levels, tPixelMeasures, tSliceThickness); len(th) > 0 {
			fi.thickness = th[0]
		}
		for _, v := range [...]float64{fi.pos[0], fi.pos[1], fi.pos[2], ori[0], ori[1], ori[2], ori[3], ori[4], ori[5], ps[0], ps[1]} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				in.geomErr = refuse(ReasonMissingGeometry, "%s frame %d has a non-finite position, orientation or spacing", name, f+1)
			}
		}
	}
	return in, nil
}

func slicesIndex(list []elements, x elements) int {
	for i, e := range list {
		if len(e) > 0 && len(x) > 0 && e[0] == x[0] {
			return i
		}
	}
	return -1
}

// lookup finds attribute t in the first level that has it, looking inside the
// functional group macro seq for the first levels of a multi-frame instance
// and at the top level of the last.
func lookup(levels []elements, seq, t tag.Tag) []float64 {
	for i, l := range levels {
		if l == nil {
			continue
		}
		if i == len(levels)-1 {
			if v := l.floats(t); v != nil {
				return v
			}
			continue
		}
		if it := l.item(seq); it != nil {
			if v := it.floats(t); v != nil {
				return v
			}
		}
	}
	return nil
}

// decodeFrame writes the frame's modality values (stored value × slope +
// intercept) into dst.
func decodeFrame(dst []float32, f *frameInfo) {
	in := f.inst
	slope, icpt := f.slope, f.icpt
	raw := f.pix
	switch {
	case in.bitsAlloc == 8 && in.pixelRep == 0:
		for i := range dst {
			dst[i] = float32(float64(raw[i])*slope + icpt)
		}
	case in.bitsAlloc == 8:
		for i := range dst {
			dst[i] = float32(float64(int8(raw[i]))*slope + icpt)
		}
	case in.bitsAlloc == 16 && in.pixelRep == 0 && in.bo == binary.LittleEndian:
		raw = raw[:2*len(dst)]
		for i := range dst {
			dst[i] = float32(float64(uint16(raw[2*i])|uint16(raw[2*i+1])<<8)*slope + icpt)
		}
	case in.bitsAlloc == 16 && in.pixelRep == 1 && in.bo == binary.LittleEndian:
		raw = raw[:2*len(dst)]
		for i := range dst {
			dst[i] = float32(float64(int16(uint16(raw[2*i])|uint16(raw[2*i+1])<<8))*slope + icpt)
		}
	case in.bitsAlloc == 16 && in.pixelRep == 0:
		for i := range dst {
			dst[i] = float32(float64(in.bo.Uint16(raw[2*i:]))*slope + icpt)
		}
	case in.bitsAlloc == 16:
		for i := range dst {
			dst[i] = float32(float64(int16(in.bo.Uint16(raw[2*i:])))*slope + icpt)
		}
	case in.pixelRep == 0:
		for i := range dst {
			dst[i] = float32(float64(in.bo.Uint32(raw[4*i:]))*slope + icpt)
		}
	default:
		for i := range dst {
			dst[i] = float32(float64(int32(in.bo.Uint32(raw[4*i:])))*slope + icpt)
		}
	}
}
