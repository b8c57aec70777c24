package realcheck

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"metsentry/firmware/geom"
	"metsentry/firmware/volume"
)

// Background is one real brain examined with nothing inserted: the image the
// appliance would receive as its bright-blood (post-contrast T1) series, and
// what is known about it for placing each finding.
type Background struct {
	// Name is the shared-data folder name, e.g. "colin27".
	Name string
	// Source says where the image comes from and what it is, one line.
	Source string
	// PostContrast is true for a real post-contrast T1 (real enhancing
	// vessels, sinuses, choroid plexus); false for a non-contrast head.
	PostContrast bool
	// SkullStripped is true when the image holds the brain only.
	SkullStripped bool
	// Image is the study: the bright-blood series.
	Image *volume.Volume
	// Pre is the pre-contrast T1 on Image's grid (post-contrast brains with
	// one); it tells enhancement from what was bright before contrast.
	Pre *volume.Volume
	// Brain is the brain mask on Image's grid; BrainRule says how it was
	// made (given with the data, or extracted here).
	Brain     []uint8
	BrainRule string
	// Tumour marks a glioma on Image's grid (nil without one); TumourRule
	// says where it comes from. Findings touching it (widened by
	// NegParams.TumourMarginMM) are left out of the false positives.
	Tumour     []uint8
	TumourRule string
	// AAL holds AAL atlas indices on Image's grid and AALNames their names
	// (Colin27 only: the atlas is drawn on it).
	AAL      []uint8
	AALNames map[int]string
}

// Grid is the study grid.
func (b *Background) Grid() geom.Grid { return b.Image.Grid }

// Real brains of ../shared/data, by folder (anatomy/<name>, or dicom/<name>
// for the DICOM series). LoadBackgrounds reads them in this order.
var BackgroundNames = []string{"colin27", "brats-gli-00001", "brats-preprocessed-case", "studyforrest-sub02", "mricron-chris-t1", "philips-mprage-sag3d"}

// LoadBackground reads the real brain name (one of BackgroundNames) from the
// shared data folder root (../shared/data from the repository root).
func LoadBackground(root, name string) (*Background, error) {
	a := filepath.Join(root, "anatomy", name)
	switch name {
	case "colin27":
		return loadColin(a)
	case "brats-gli-00001":
		return loadBraTSGli(a)
	case "brats-preprocessed-case":
		return loadBraTSPreprocessed(a)
	case "studyforrest-sub02":
		return loadHead(name, filepath.Join(a, "studyforrest_sub02_anat-T1w_defaced.nii.gz"),
			"studyforrest sub-02, Philips 3T whole-head 3D T1, no contrast, defaced, about 0.7 mm")
	case "mricron-chris-t1":
		return loadHead(name, filepath.Join(a, "chris_t1.nii.gz"),
			"MRIcron chris_t1, healthy volunteer whole-head 3D T1, no contrast, bias-corrected, 8-bit, 1 mm")
	case "philips-mprage-sag3d":
		return loadPhilips(filepath.Join(root, "dicom", name))
	}
	return nil, fmt.Errorf("realcheck: unknown background %q (known: %s)", name, strings.Join(BackgroundNames, ", "))
}

func loadColin(dir string) (*Background, error) {
	img, err := LoadVolume(filepath.Join(dir, "ch2.nii.gz"))
	if err != nil {
		return nil, err
	}
	bet, err := LoadVolume(filepath.Join(dir, "ch2bet.nii.gz"))
	if err != nil {
		return nil, err
	}
	aal, err := LoadVolume(filepath.Join(dir, "aal.nii.gz"))
	if err != nil {
		return nil, err
	}
	for _, o := range []*volume.Volume{bet, aal} {
		if !img.Grid.Near(o.Grid, 1e-3) {
			return nil, fmt.Errorf("realcheck: colin27: ch2bet/aal grid %v differs from ch2's %v", o.Grid.Dims, img.Grid.Dims)
		}
	}
	b := &Background{Name: "colin27", Image: img,
		Source:    "Colin27 (ch2), one healthy subject averaged over 27 scans, whole-head T1, no contrast, 1 mm; the background the phantom 0.6.1 was trained on",
		BrainRule: "ch2bet.nii.gz > 0 (the brain-extracted image shipped with the data)",
		Brain:     make([]uint8, len(img.Data)), AAL: make([]uint8, len(img.Data))}
	for i := range img.Data {
		if bet.Data[i] > 0 {
			b.Brain[i] = 1
		}
		b.AAL[i] = uint8(min(max(aal.Data[i], 0), 255))
	}
	if b.AALNames, err = readAALNames(filepath.Join(dir, "aal.nii.txt")); err != nil {
		return nil, err
	}
	return b, nil
}

// readAALNames reads "index name code" lines.
func readAALNames(path string) (map[int]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("realcheck: %w", err)
	}
	defer f.Close()
	names := map[int]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 2 {
			continue
		}
		if k, err := strconv.Atoi(fs[0]); err == nil {
			names[k] = fs[1]
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("realcheck: %s: %w", path, err)
	}
	return names, nil
}

func loadBraTSGli(dir string) (*Background, error) {
	s, err := LoadStudy(dir)
	if err != nil {
		return nil, err
	}
	ref, err := FindReference(s, DefaultRefParams)
	if err != nil {
		return nil, err
	}
	b := &Background{Name: "brats-gli-00001", Image: s.T1c, Pre: s.T1n, PostContrast: true, SkullStripped: true,
		Source:     "BraTS 2023 BraTS-GLI-00001-000 t1c: real post-contrast T1 of a glioma patient, skull-stripped, 1 mm",
		Brain:      ref.Brain,
		BrainRule:  "t1c, t1n and t2f all above 0 (skull-stripped data)",
		Tumour:     make([]uint8, len(ref.Brain)),
		TumourRule: "no label: the closed FLAIR whole-tumour region and the enhancing reference region derived from t1c − t1n and t2f (realcheck.FindReference)",
	}
	for i := range b.Tumour {
		b.Tumour[i] = ref.Envelope[i] | ref.Enhancing[i]
	}
	return b, nil
}

func loadBraTSPreprocessed(dir string) (*Background, error) {
	vs := map[string]*volume.Volume{}
	for _, n := range []string{"t1c", "t1n", "segmentation_algorithm_output"} {
		v, err := LoadVolume(filepath.Join(dir, n+".nii.gz"))
		if err != nil {
			return nil, err
		}
		vs[n] = v
	}
	t1c := vs["t1c"]
	for n, v := range vs {
		if !t1c.Grid.Near(v.Grid, 1e-3) {
			return nil, fmt.Errorf("realcheck: brats-preprocessed-case: %s grid %v differs from t1c's %v", n, v.Grid.Dims, t1c.Grid.Dims)
		}
	}
	b := &Background{Name: "brats-preprocessed-case", Image: t1c, Pre: vs["t1n"], PostContrast: true, SkullStripped: true,
		Source:     "BraTS preprocessed_case t1c: real post-contrast T1 of an adult glioma patient, skull-stripped, SRI24, 1 mm",
		BrainRule:  "t1c and t1n both above 0 (skull-stripped data)",
		TumourRule: "segmentation_algorithm_output.nii.gz labels 1–3 (a BraTS algorithm's output, not ground truth)",
		Brain:      make([]uint8, len(t1c.Data)), Tumour: make([]uint8, len(t1c.Data)),
	}
	seg := vs["segmentation_algorithm_output"]
	for i := range t1c.Data {
		if t1c.Data[i] > 0 && b.Pre.Data[i] > 0 {
			b.Brain[i] = 1
		}
		if seg.Data[i] > 0.5 {
			b.Tumour[i] = 1
		}
	}
	return b, nil
}

func loadHead(name, path, source string) (*Background, error) {
	img, err := LoadVolume(path)
	if err != nil {
		return nil, err
	}
	return headBackground(name, source, img)
}

func loadPhilips(dir string) (*Background, error) {
	dcm, err := filepath.Glob(filepath.Join(dir, "*.dcm"))
	if err != nil {
		return nil, fmt.Errorf("realcheck: %w", err)
	}
	if len(dcm) == 0 {
		return nil, fmt.Errorf("realcheck: %s holds no *.dcm files (the Philips MPRAGE series of ../shared/data is expected there)", dir)
	}
	v, err := volume.Assemble(dcm, volume.Options{})
	if err != nil {
		return nil, fmt.Errorf("realcheck: %s: %w", dir, err)
	}
	v.Source = nil // only the voxels and the grid are used
	return headBackground("philips-mprage-sag3d", "Philips Ingenia Elition X 3T sagittal 3D T1 MPRAGE DICOM series, healthy volunteer, whole head, no contrast, 1 mm (read by firmware/volume.Assemble)", v)
}

func headBackground(name, source string, img *volume.Volume) (*Background, error) {
	brain, err := ExtractBrain(img)
	if err != nil {
		return nil, fmt.Errorf("realcheck: %s: %w", name, err)
	}
	return &Background{Name: name, Source: source, Image: img, Brain: brain, BrainRule: BrainExtractionRule}, nil
}
