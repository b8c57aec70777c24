// Package volume turns a DICOM series into a 3D volume in patient space and
// prepares a VISIBLE pair (black-blood, bright-blood) for the model, keeping
// the exact mapping back to the source slices.
//
// # Parts
//
//	Assemble(files, Options) (*Volume, error)    one series → Volume{Grid, Data, Source}
//	Prepare(black, bright, manifest) (*ModelInput, error)
//	ModelInput.ToSource(mask)                     model-grid mask → source grid (nearest)
//	ModelInput.ProbabilityToSource(prob, thr)     model-grid probability → source mask (trilinear)
//	ModelInput.VoxelToPatient, PatientToSource    coordinates
//	Volume.WriteNIfTI, ModelInput.WriteNIfTI      look at any stage (package nifti)
//
// # Assembly
//
// Assemble reads the instances of one series with suyashkumar/dicom: classic
// single-frame images, and Enhanced MR multi-frame instances whose position,
// orientation, pixel spacing, thickness and rescale come from the per-frame
// (else shared) functional groups. A multi-frame instance holding several
// volumes (time points, echoes, ASL label/control) gives its first volume:
// the frames sharing the first frame's DimensionIndexValues on every
// dimension except the in-stack position. Slices are sorted along the normal
// of ImageOrientationPatient (row × column) by ImagePositionPatient; the
// slice step comes from the positions, never from SliceThickness or
// SpacingBetweenSlices; the geom.Grid affine maps voxel (column, row, slice)
// to patient LPS mm. Values are RescaleSlope × stored + RescaleIntercept,
// per frame when the frames say so. Volume.Source lists, in slice order, each
// slice's SOP Instance UID, frame number and ImagePositionPatient, with the
// series, study and frame-of-reference UIDs, rows and columns: what a SEG
// writer needs to reference the source images.
//
// A series that is not one regular 3D stack is refused with a *RefusedError
// (errors.As; ReasonOf) whose Reason is one of the Reason constants and whose
// message is written for the audit log, e.g. "volume: series refused: slices
// 5 mm thick are 7 mm apart (gaps of 2 mm); a 3D volume needs contiguous
// slices". Checked in this order: readable DICOM with geometry, one series
// and frame of reference, one orientation, one size and pixel spacing,
// orthogonal unit direction cosines, no repeated positions, at least
// Options.MinSlices (3) slices, every step within Options.SpacingTolerance
// (10%) of the median step (a step that is a whole multiple of it means
// missing slices), stacking direction within Options.TiltToleranceDeg (1°) of
// the normal (gantry tilt), every slice where a regular stack puts it, and
// spacing not larger than the slice thickness (2D slices with gaps) unless
// Options.AllowGaps. A damaged file gives ReasonUnreadable; a parser panic is
// recovered into that refusal.
//
// Transfer syntaxes decoded: Implicit VR Little Endian, Explicit VR Little
// Endian, Deflated Explicit VR Little Endian (inflated by suyashkumar/dicom)
// and Explicit VR Big Endian (pixel bytes swapped here); the uncompressed ones
// are checked voxel for voxel against dcm2niix's reference, deflated against
// dcmtk's inflation. Refused, by name (ReasonTransferSyntax): every
// encapsulated syntax, i.e. JPEG Baseline/Extended, JPEG Lossless (Process 14,
// SV1 included), JPEG-LS, JPEG 2000 and RLE Lossless. suyashkumar/dicom v1.1.0
// decodes none of them; the standard library's image/jpeg reads only 8-bit
// baseline JPEG (not used for MR); no well-kept pure-Go decoder of 16-bit
// JPEG Lossless, JPEG-LS or JPEG 2000 exists; and a scanner sends
// uncompressed images when its DICOM node is set so.
//
// # Model input
//
// Prepare builds the model grid from the bright series: axes along patient
// LPS (i to the patient's left, j posterior, k superior, the layout of an
// ordinary axial stack), voxel size manifest.SpacingMM, covering the head's
// bounding box plus HeadMarginMM, cut MaxHeadHeightMM below the top of the
// head (the neck is not examined), each size padded up to a multiple of
// manifest.Layout.Multiple with the padding shared between both ends. The
// head is every voxel of the bright image above HeadFraction × its 99th
// percentile, or above 2.5 × the median of the grid's outermost voxels (the
// air's noise) where that is higher, and with a majority of its 3×3×3
// neighbours above it too; isolated noise neither stretches the box nor
// enters the statistics normalisation takes. Each channel is
// sampled once, trilinearly, straight from its own source grid through
// patient space onto the model grid: when the black series' grid differs
// from the bright one's this is the resampling of black onto bright, without
// a second interpolation. The pair must share a FrameOfReferenceUID and the
// black series must cover at least 90% of the head (ReasonFrameOfReference).
// Normalisation, per channel, with statistics taken over the head mask
// (ModelInput.HeadMask, from the bright channel): zscore-mask maps v to
// (v − mean)/sd; percentile clips to the [low_pct, high_pct] percentiles
// (histogram of 4096 bins) and scales to [0, 1]. Voxels outside a source
// volume are 0 before normalisation. A bright-only study given to a model
// listing a black channel gets a zero black channel when the manifest says
// bright_only, else ReasonMissingChannel.
//
// The network then runs over the brain only: after normalising on the whole
// head (ModelInput.HeadGrid), Prepare cuts the grid, voxel for voxel, to the
// box of the brain plus BrainMarginMM (brainbox.go: the highest brain-sized
// piece of tissue once the scalp is peeled and thin bridges are eroded,
// grown back through tissue). Metastases grow in the brain; the scalp, face
// and neck only cost time. On real heads the cut keeps 52% of the head grid
// (Philips sagittal MPRAGE reaching the neck) and 75% (Colin27), every brain
// voxel of Colin27's brain mask well inside; on the phantom's test studies,
// whose 180 mm axial field of view leaves little but the head, 71 to 89%. A head it cannot read as a brain (no brain-sized core, or a
// skull-stripped image where the head is the brain) keeps the head grid.
//
// ModelInput.Data is channel-major [C, D, H, W] float32 in manifest channel
// order, D = Grid.Dims[2], H = Grid.Dims[1], W = Grid.Dims[0]. Mapping back:
// ToSource samples a model-grid mask at 8 points inside every source voxel
// (majority, ties to the centre), ProbabilityToSource samples a probability
// map trilinearly and thresholds it; both return a mask laid out like
// Source.Data, slice k being Source.Source.Slices[k]. The chain source voxel
// → patient → model voxel is exact (a linear function put on the model grid
// reads back within 0.01 mm at every source voxel). A binary mask moved
// between two lattices of about the same spacing still shifts by up to half
// a voxel where their planes run nearly parallel, so prefer
// ProbabilityToSource on the detector's probability map: a 3 mm sphere at a
// known patient position comes back 0.20 mm (Philips sagittal) and 0.14 mm
// (GE oblique) from it that way, 0.37 and 0.20 mm through ToSource of the
// painted voxels; the sphere sampled straight on the source lattice is itself
// 0.16 and 0.14 mm off. The model lattice is shifted (by under half a voxel)
// to pass through a source voxel centre near the head's middle, so an
// axis-aligned source at the model spacing is sampled without blur.
//
// # Performance
//
// Decoding (over files and slices) and resampling, masking and normalising
// (over output slabs) run on runtime.GOMAXPROCS goroutines; inner loops
// allocate nothing per voxel, and rows of the output lying wholly inside the
// source take a path without bounds checks. Mapping back visits only the
// source voxels a set model voxel can reach. BenchmarkPrepareVisiblePair
// writes two 176-slice 256² series as DICOM files (the Philips series plus
// six slices continuing its stack), assembles both, puts them on a 1 mm grid
// and z-scores them; on an idle Xeon pinned to 2 cores it took 0.76 s per
// pair (1.34 s on 1 core) with 298 MiB peak RSS for one run, measured with a
// 15.6 Mvox model grid before the 200 mm crop cut it to 12.0 Mvox. Repeated
// runs in one process peak higher (about 420 MiB after three) because the
// garbage of the previous pair waits for the collector: a daemon sets
// GOMEMLIMIT.
package volume
