package phantom

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// DICOM constants of the phantom's studies.
const (
	mrImageStorage   = "1.2.840.10008.5.1.4.1.1.4"
	explicitVRLittle = "1.2.840.10008.1.2.1"
	// implementationUID is a 2.25 UID derived from a fixed UUID for metsentry's
	// phantom writer.
	implementationUID = "2.25.163389478730263155232651186004398377841"
)

// Series describes one of the two series the phantom writes.
type Series struct {
	Number      int
	Description string
	ImageType   []string
	Channel     string // "black" or "bright"
}

// SeriesOf returns the two series of a VISIBLE acquisition, black-blood
// first. Both carry the same acquisition and frame of reference; only
// SeriesDescription and ImageType's fourth value tell them apart.
func SeriesOf() []Series {
	return []Series{
		{Number: 701, Description: "3D T1 VISIBLE BB +C", ImageType: []string{"ORIGINAL", "PRIMARY", "OTHER", "BLACK_BLOOD"}, Channel: "black"},
		{Number: 702, Description: "3D T1 VISIBLE WB +C", ImageType: []string{"ORIGINAL", "PRIMARY", "OTHER", "BRIGHT_BLOOD"}, Channel: "bright"},
	}
}

// uidFor derives a stable 2.25 UID from the case and a role.
func uidFor(c *Case, role string) string {
	h := sha256.Sum256([]byte(c.Version + "\x00" + string(c.Split) + "\x00" + strconv.FormatUint(c.Seed, 10) + "\x00" + role))
	n := new(big.Int).SetBytes(h[:16])
	return "2.25." + n.String()
}

// SOPInstanceUID is the SOPInstanceUID of axial slice k (0-based) of the
// black or bright series.
func SOPInstanceUID(c *Case, channel string, k int) string {
	return uidFor(c, fmt.Sprintf("sop-%s-%d", channel, k))
}

// StudyUID is the case's StudyInstanceUID.
func StudyUID(c *Case) string { return uidFor(c, "study") }

// WriteDICOM writes the case as a DICOM study under dir: dir/<series>/<n>.dcm,
// classic MR Image Storage, Explicit VR Little Endian, 16-bit unsigned pixels
// (12 bits stored) with a RescaleSlope per series. The patient is made up.
func WriteDICOM(dir string, c *Case) error {
	return WriteDICOMSlices(dir, c, 0, c.Grid.Dims[2])
}

// WriteDICOMSlices writes only axial slices [k0, k1) (tests write a few).
func WriteDICOMSlices(dir string, c *Case, k0, k1 int) error {
	if k0 < 0 || k1 > c.Grid.Dims[2] || k0 >= k1 {
		return fmt.Errorf("phantom: dicom: slice range [%d, %d) outside 0..%d", k0, k1, c.Grid.Dims[2])
	}
	for _, s := range SeriesOf() {
		vol := c.Black
		if s.Channel == "bright" {
			vol = c.Bright
		}
		sdir := filepath.Join(dir, fmt.Sprintf("s%d", s.Number))
		if err := os.MkdirAll(sdir, 0o755); err != nil {
			return fmt.Errorf("phantom: dicom: %w", err)
		}
		maxv := float32(0)
		for _, v := range vol {
			maxv = max(maxv, v)
		}
		slope := math.Max(float64(maxv)/4095, 1e-3)
		slope = math.Ceil(slope*1e4) / 1e4 // exactly representable in DS
		common := commonElements(c, s, slope)
		work := make(chan int)
		errs := make(chan error, 1)
		var wg sync.WaitGroup
		for w := 0; w < max(1, c.workers()); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range work {
					if err := writeSlice(sdir, c, s, common, vol, slope, k); err != nil {
						select {
						case errs <- err:
						default:
						}
					}
				}
			}()
		}
		for k := k0; k < k1; k++ {
			work <- k
		}
		close(work)
		wg.Wait()
		select {
		case err := <-errs:
			return err
		default:
		}
	}
	return nil
}

func (c *Case) workers() int { return c.writers }

func mustElem(t tag.Tag, v any) *dicom.Element {
	e, err := dicom.NewElement(t, v)
	if err != nil {
		panic(fmt.Sprintf("phantom: dicom element %v: %v", t, err)) // a bug in this file, not bad input
	}
	return e
}

func ds(v float64) string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if len(s) > 16 {
		s = strconv.FormatFloat(v, 'g', 10, 64)
	}
	return s
}

// studyTime is a deterministic study date and time for the case.
func studyTime(c *Case) time.Time {
	base := time.Date(2024, 1, 8, 8, 0, 0, 0, time.UTC)
	return base.Add(time.Duration(c.Seed%700)*24*time.Hour + time.Duration(c.Seed%9)*time.Hour + time.Duration(c.Seed%53)*time.Minute)
}

func commonElements(c *Case, s Series, slope float64) []*dicom.Element {
	st := studyTime(c)
	date, tm := st.Format("20060102"), st.Format("150405")
	birth := st.AddDate(-c.Params.PatientAgeYr, -int(c.Seed%11), -int(c.Seed%27)).Format("20060102")
	nx, ny := c.Grid.Dims[0], c.Grid.Dims[1]
	sp := c.Grid.Spacing()
	row := c.Grid.Affine.Column(0).Scale(1 / sp[0])
	col := c.Grid.Affine.Column(1).Scale(1 / sp[1])
	id := fmt.Sprintf("PH%s%04d", map[Split]string{Train: "TR", Val: "VA", Test: "TE"}[c.Split], c.Seed%10000)
	return []*dicom.Element{
		mustElem(tag.FileMetaInformationVersion, []byte{0, 1}),
		mustElem(tag.MediaStorageSOPClassUID, []string{mrImageStorage}),
		mustElem(tag.TransferSyntaxUID, []string{explicitVRLittle}),
		mustElem(tag.ImplementationClassUID, []string{implementationUID}),
		mustElem(tag.ImplementationVersionName, []string{"METSENTRY_PH1"}),
		mustElem(tag.SpecificCharacterSet, []string{"ISO_IR 100"}),
		mustElem(tag.ImageType, s.ImageType),
		mustElem(tag.InstanceCreationDate, []string{date}),
		mustElem(tag.InstanceCreationTime, []string{tm}),
		mustElem(tag.SOPClassUID, []string{mrImageStorage}),
		mustElem(tag.StudyDate, []string{date}),
		mustElem(tag.SeriesDate, []string{date}),
		mustElem(tag.AcquisitionDate, []string{date}),
		mustElem(tag.ContentDate, []string{date}),
		mustElem(tag.StudyTime, []string{tm}),
		mustElem(tag.SeriesTime, []string{tm}),
		mustElem(tag.AcquisitionTime, []string{tm}),
		mustElem(tag.ContentTime, []string{tm}),
		mustElem(tag.AccessionNumber, []string{fmt.Sprintf("ACC%s", id[2:])}),
		mustElem(tag.Modality, []string{"MR"}),
		mustElem(tag.Manufacturer, []string{"metsentry"}),
		mustElem(tag.InstitutionName, []string{"Synthetic Phantom Hospital"}),
		mustElem(tag.ReferringPhysicianName, []string{"PHANTOM^REFERRER"}),
		mustElem(tag.StationName, []string{"PHANTOM01"}),
		mustElem(tag.StudyDescription, []string{"MR BRAIN METS VISIBLE (SYNTHETIC)"}),
		mustElem(tag.SeriesDescription, []string{s.Description}),
		mustElem(tag.ManufacturerModelName, []string{"VISIBLE phantom"}),
		mustElem(tag.PatientName, []string{"PHANTOM^" + id}),
		mustElem(tag.PatientID, []string{id}),
		mustElem(tag.PatientBirthDate, []string{birth}),
		mustElem(tag.PatientSex, []string{c.Params.PatientSex}),
		mustElem(tag.PatientAge, []string{fmt.Sprintf("%03dY", c.Params.PatientAgeYr)}),
		mustElem(tag.PatientWeight, []string{strconv.Itoa(55 + int(c.Seed%40))}),
		mustElem(tag.ContrastBolusAgent, []string{"GADOBUTROL 1.0 MMOL/ML"}),
		mustElem(tag.BodyPartExamined, []string{"BRAIN"}),
		mustElem(tag.ScanningSequence, []string{"GR"}),
		mustElem(tag.SequenceVariant, []string{"SP", "MP"}),
		mustElem(tag.ScanOptions, []string{}),
		mustElem(tag.MRAcquisitionType, []string{"3D"}),
		mustElem(tag.SequenceName, []string{"T1TFE_VISIBLE"}),
		mustElem(tag.SliceThickness, []string{ds(sp[2])}),
		mustElem(tag.RepetitionTime, []string{"6.6"}),
		mustElem(tag.EchoTime, []string{"3.1"}),
		mustElem(tag.NumberOfAverages, []string{"1"}),
		mustElem(tag.ImagingFrequency, []string{"127.7"}),
		mustElem(tag.ImagedNucleus, []string{"1H"}),
		mustElem(tag.EchoNumbers, []string{"1"}),
		mustElem(tag.MagneticFieldStrength, []string{"3"}),
		mustElem(tag.SpacingBetweenSlices, []string{ds(sp[2])}),
		mustElem(tag.EchoTrainLength, []string{"64"}),
		mustElem(tag.PercentSampling, []string{"100"}),
		mustElem(tag.PercentPhaseFieldOfView, []string{"100"}),
		mustElem(tag.PixelBandwidth, []string{"241"}),
		mustElem(tag.SoftwareVersions, []string{c.Version}),
		mustElem(tag.ContrastBolusRoute, []string{"IV"}),
		mustElem(tag.ContrastBolusVolume, []string{"7.5"}),
		mustElem(tag.ProtocolName, []string{"METS VISIBLE"}),
		mustElem(tag.ReceiveCoilName, []string{"HEAD 32"}),
		mustElem(tag.AcquisitionMatrix, []int{0, nx, ny, 0}),
		mustElem(tag.InPlanePhaseEncodingDirection, []string{"COL"}),
		mustElem(tag.FlipAngle, []string{"12"}),
		mustElem(tag.SAR, []string{"0.1"}),
		mustElem(tag.PatientPosition, []string{"HFS"}),
		mustElem(tag.StudyInstanceUID, []string{StudyUID(c)}),
		mustElem(tag.SeriesInstanceUID, []string{uidFor(c, "series-"+s.Channel)}),
		mustElem(tag.StudyID, []string{"1"}),
		mustElem(tag.SeriesNumber, []string{strconv.Itoa(s.Number)}),
		mustElem(tag.AcquisitionNumber, []string{"7"}),
		mustElem(tag.ImageOrientationPatient, []string{ds(row[0]), ds(row[1]), ds(row[2]), ds(col[0]), ds(col[1]), ds(col[2])}),
		mustElem(tag.FrameOfReferenceUID, []string{uidFor(c, "frame")}),
		mustElem(tag.PositionReferenceIndicator, []string{""}),
		mustElem(tag.SamplesPerPixel, []int{1}),
		mustElem(tag.PhotometricInterpretation, []string{"MONOCHROME2"}),
		mustElem(tag.Rows, []int{ny}),
		mustElem(tag.Columns, []int{nx}),
		mustElem(tag.PixelSpacing, []string{ds(sp[1]), ds(sp[0])}),
		mustElem(tag.BitsAllocated, []int{16}),
		mustElem(tag.BitsStored, []int{12}),
		mustElem(tag.HighBit, []int{11}),
		mustElem(tag.PixelRepresentation, []int{0}),
		mustElem(tag.WindowCenter, []string{"1100"}),
		mustElem(tag.WindowWidth, []string{"2200"}),
		mustElem(tag.RescaleIntercept, []string{"0"}),
		mustElem(tag.RescaleSlope, []string{ds(slope)}),
		mustElem(tag.RescaleType, []string{"US"}),
	}
}

func writeSlice(dir string, c *Case, s Series, common []*dicom.Element, vol []float32, slope float64, k int) error {
	nx, ny := c.Grid.Dims[0], c.Grid.Dims[1]
	pos := c.Grid.Affine.Apply([3]float64{0, 0, float64(k)})
	sop := SOPInstanceUID(c, s.Channel, k)
	pix := make([]byte, 2*nx*ny)
	off := nx * ny * k
	for i := 0; i < nx*ny; i++ {
		v := math.Round(float64(vol[off+i]) / slope)
		v = math.Max(0, math.Min(4095, v))
		binary.LittleEndian.PutUint16(pix[2*i:], uint16(v))
	}
	elems := append([]*dicom.Element(nil), common...)
	elems = append(elems,
		mustElem(tag.MediaStorageSOPInstanceUID, []string{sop}),
		mustElem(tag.SOPInstanceUID, []string{sop}),
		mustElem(tag.InstanceNumber, []string{strconv.Itoa(k + 1)}),
		mustElem(tag.ImagePositionPatient, []string{ds(round4(pos[0])), ds(round4(pos[1])), ds(round4(pos[2]))}),
		mustElem(tag.SliceLocation, []string{ds(round4(pos[2]))}),
		mustElem(tag.PixelData, dicom.PixelDataInfo{IntentionallyUnprocessed: true, UnprocessedValueData: pix}),
	)
	sort.Slice(elems, func(i, j int) bool {
		a, b := elems[i].Tag, elems[j].Tag
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		return a.Element < b.Element
	})
	path := filepath.Join(dir, fmt.Sprintf("%04d.dcm", k+1))
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("phantom: dicom: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<18)
	if err := dicom.Write(bw, dicom.Dataset{Elements: elems}); err != nil {
		f.Close()
		return fmt.Errorf("phantom: dicom: slice %d of series %d: %w", k, s.Number, err)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("phantom: dicom: %w", err)
	}
	return f.Close()
}

func round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }
