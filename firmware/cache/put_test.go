package cache

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestPutInstanceRealSeries stores real scanner series and checks every
// record against its file: size, sha256, UIDs, and the series state.
func TestPutInstanceRealSeries(t *testing.T) {
	for _, tc := range []struct {
		name         string
		rel          []string
		count        int
		expected     int
		expectedFrom string
		multiFrame   bool
		mrAcq        string
		noFoR        bool // the fixture was anonymised without a frame of reference
	}{
		{"philips sagittal MPRAGE", []string{"dicom", "philips-mprage-sag3d"}, 170, 0, "", false, "3D", false},
		{"GE oblique MPRAGE", []string{"dicom", "ge-mprage-ax-oblique"}, 130, 130, "ImagesInAcquisition", false, "3D", false},
		{"dicom2nifti philips enhanced", []string{"dicom", "dicom2nifti-fixtures", "philips_enhanced_anatomical_001"}, 1, 0, "", true, "3D", true},
		{"dicom2nifti siemens", []string{"dicom", "dicom2nifti-fixtures", "siemens_anatomical_001"}, 0, 0, "", false, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := mustOpen(t, Options{})
			files := dicomFiles(t, tc.rel...)
			if tc.count == 0 {
				tc.count = len(files)
			}
			if len(files) != tc.count {
				t.Fatalf("%d files in %v, want %d", len(files), tc.rel, tc.count)
			}
			for _, f := range files {
				putFile(t, s, f)
			}
			err := s.View(func(tx *Tx) error {
				var series []Series
				if err := tx.Studies(func(st Study) error {
					ss, err := tx.StudySeries(st.StudyInstanceUID)
					series = append(series, ss...)
					if st.State != StudyReceiving || st.Generation != 1 {
						t.Errorf("study state %s gen %d, want receiving gen 1", st.State, st.Generation)
					}
					return err
				}); err != nil {
					return err
				}
				if len(series) != 1 {
					t.Fatalf("%d series, want 1", len(series))
				}
				se := series[0]
				if se.Count != tc.count || se.Expected != tc.expected || se.ExpectedFrom != tc.expectedFrom || se.MultiFrame != tc.multiFrame {
					t.Errorf("series count %d expected %d (%q) multiframe %v; want %d %d (%q) %v",
						se.Count, se.Expected, se.ExpectedFrom, se.MultiFrame, tc.count, tc.expected, tc.expectedFrom, tc.multiFrame)
				}
				if tc.mrAcq != "" && se.Attrs.MRAcquisitionType != tc.mrAcq {
					t.Errorf("MRAcquisitionType %q, want %q", se.Attrs.MRAcquisitionType, tc.mrAcq)
				}
				if len(se.Attrs.ImageOrientation) != 6 || len(se.Attrs.PixelSpacing) != 2 || (se.Attrs.FrameOfReferenceUID == "") != tc.noFoR {
					t.Errorf("geometry missing: IOP %v spacing %v FoR %q", se.Attrs.ImageOrientation, se.Attrs.PixelSpacing, se.Attrs.FrameOfReferenceUID)
				}
				insts, err := tx.SeriesInstances(se.StudyInstanceUID, se.SeriesInstanceUID)
				if err != nil {
					return err
				}
				if len(insts) != tc.count {
					t.Fatalf("%d instance records, want %d", len(insts), tc.count)
				}
				for _, in := range insts {
					if got := fileSHA(t, s.Path(in.Path)); got != in.SHA256 {
						t.Errorf("%s: file sha256 differs from record", in.Path)
					}
					if in.SOPInstanceUID == "" || in.TransferSyntaxUID == "" || in.CallingAE != "CONSOLE" {
						t.Errorf("record incomplete: %+v", in.Header)
					}
				}
				jobs := 0
				if err := tx.Jobs(func(j Job) error {
					jobs++
					if j.State != JobWaiting {
						t.Errorf("job %d %s, want waiting", j.ID, j.State)
					}
					return nil
				}); err != nil {
					return err
				}
				if jobs != 1 {
					t.Errorf("%d jobs, want 1", jobs)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if n := usedTemp(t, s); n != 0 {
				t.Errorf("%d written files left in tmp", n)
			}
		})
	}
}

func TestPutInstanceDuplicateAndReplace(t *testing.T) {
	s, clk := mustOpen(t, Options{})
	files := dicomFiles(t, "dicom", "ge-mprage-ax-oblique")[:3]
	for _, f := range files {
		putFile(t, s, f)
	}
	clk.Add(10)
	putFile(t, s, files[0]) // identical: only the series' last arrival moves (a resend)
	var se Series
	s.View(func(tx *Tx) error {
		ss, _ := tx.StudySeries(mustHeader(t, files[0]).StudyInstanceUID)
		se = ss[0]
		return nil
	})
	if se.Count != 3 || !se.LastAt.Equal(clk.Now()) {
		t.Fatalf("after duplicate: count %d lastAt %v (clock %v); want 3, and the resend's time", se.Count, se.LastAt, clk.Now())
	}
	// The same data set in a file with another preamble (as another sender
	// would write it) is a duplicate too: the data set hash decides.
	other, _ := os.ReadFile(files[1])
	copy(other[:8], "OTHERAPP")
	if err := put(t, s, other); err != nil {
		t.Fatal(err)
	}
	s.View(func(tx *Tx) error {
		in, _, _ := tx.Instance(mustHeader(t, files[1]).SOPInstanceUID)
		if in.SHA256 != fileSHA(t, files[1]) {
			t.Errorf("a copy with the same data set replaced the recorded file")
		}
		st, _, _ := tx.Study(in.StudyInstanceUID)
		if st.Generation != 1 {
			t.Errorf("a duplicate reopened the study (generation %d)", st.Generation)
		}
		return nil
	})
	// Same SOP instance, different bytes (a trailing private element would be
	// more realistic; a changed byte in pixel data is enough for the cache).
	data, _ := os.ReadFile(files[0])
	data[len(data)-1] ^= 0xff
	if err := put(t, s, data); err != nil {
		t.Fatal(err)
	}
	n := 0
	filepath.WalkDir(filepath.Join(s.Dir(), InstanceDir), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	if n != 3 {
		t.Errorf("%d instance files after a replacement, want 3 (the replaced copy removed)", n)
	}
}

func TestPutInstanceRefusals(t *testing.T) {
	good, err := os.ReadFile(dicomFiles(t, "dicom", "ge-mprage-ax-oblique")[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		meta Received
		opt  Options
		want error
	}{
		{"not DICOM", []byte("hello, this is not a DICOM file at all............................................................................................................................"), Received{}, Options{}, ErrBadInstance},
		{"SOP UID mismatch", good, Received{SOPInstanceUID: "1.2.3.4"}, Options{}, ErrBadInstance},
		{"size mismatch", good, Received{Size: 12}, Options{}, ErrBadInstance},
		{"disk full", good, Received{}, Options{MinFreeBytes: 1 << 30, FreeSpace: func(string) (uint64, uint64, error) { return 1 << 20, 1 << 40, nil }}, ErrDiskFull},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := mustOpen(t, Options{})
			f, err := s.CreateTemp()
			if err != nil {
				t.Fatal(err)
			}
			f.Write(tc.data)
			s.opt.MinFreeBytes, s.opt.FreeSpace = tc.opt.MinFreeBytes, cmpOr(tc.opt.FreeSpace, s.opt.FreeSpace)
			err = s.PutInstance(context.Background(), f, tc.meta)
			if !errors.Is(err, tc.want) {
				t.Fatalf("PutInstance = %v, want %v", err, tc.want)
			}
			if n := usedTemp(t, s); n != 0 {
				t.Errorf("temporary file left behind")
			}
			s.View(func(tx *Tx) error {
				return tx.AllInstances(func(Instance) error { t.Errorf("instance recorded after a refusal"); return nil })
			})
			if tc.want == ErrDiskFull {
				if _, err := s.CreateTemp(); !errors.Is(err, ErrDiskFull) {
					t.Errorf("CreateTemp below the watermark = %v, want ErrDiskFull", err)
				}
			}
		})
	}
}

func cmpOr(a, b func(string) (uint64, uint64, error)) func(string) (uint64, uint64, error) {
	if a != nil {
		return a
	}
	return b
}

func mustHeader(t testing.TB, path string) Header {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	h, err := ParseHeader(f, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	return h
}
