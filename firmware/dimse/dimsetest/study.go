// Package dimsetest builds test studies for the dimse package's interop
// tests and for tools/dimsebench: a two-series MR study made from the real
// Philips MPRAGE slices in the shared data folder, in Explicit VR LE,
// Implicit VR LE and Deflated Explicit VR LE.
package dimsetest

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"metsentry/firmware/dimse"
)

// Syntaxes of a Study, by transfer syntax UID.
var Syntaxes = []string{dimse.ExplicitVRLittleEndian, dimse.ImplicitVRLittleEndian, dimse.DeflatedExplicitVRLittleEndian}

// SyntaxName is a short name for each of Syntaxes.
var SyntaxName = map[string]string{
	dimse.ExplicitVRLittleEndian: "explicit", dimse.ImplicitVRLittleEndian: "implicit", dimse.DeflatedExplicitVRLittleEndian: "deflated",
}

// Study is a generated study: for each transfer syntax, the same instances
// (same SOP Instance UIDs) as Part 10 files.
type Study struct {
	Dir   string
	Files map[string][]string // transfer syntax UID -> paths
}

// MakeStudy writes a study of series×perSeries instances under dir from the
// slices in src (a folder of Explicit VR LE MR files). Source slices are
// first normalised by dcmconv (so dcmtk senders re-encode them byte for
// byte), then each copy gets new SOP Instance and Series Instance UIDs of the
// same length, replaced in place. The deflated files are written here with
// compress/flate from the explicit ones. dcmconv must be on PATH.
func MakeStudy(src, dir string, series, perSeries int) (*Study, error) {
	names, err := filepath.Glob(filepath.Join(src, "*.dcm"))
	if err != nil || len(names) == 0 {
		return nil, fmt.Errorf("dimsetest: no .dcm files in %s (%v)", src, err)
	}
	slices.Sort(names)
	norm := filepath.Join(dir, "norm")
	if err := os.MkdirAll(norm, 0o755); err != nil {
		return nil, err
	}
	// Normalise each source slice once per syntax with dcmconv, two at a time.
	type job struct{ in, out, opt string }
	var jobs []job
	for _, n := range names {
		base := filepath.Base(n)
		jobs = append(jobs, job{n, filepath.Join(norm, "e-"+base), "+te"}, job{n, filepath.Join(norm, "i-"+base), "+ti"})
	}
	if err := runJobs(len(jobs), 2, func(i int) error {
		j := jobs[i]
		out, err := exec.Command("dcmconv", j.opt, j.in, j.out).CombinedOutput()
		if err != nil {
			return fmt.Errorf("dimsetest: dcmconv %s %s: %v: %s", j.opt, j.in, err, out)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	st := &Study{Dir: dir, Files: map[string][]string{}}
	for _, ts := range Syntaxes {
		if err := os.MkdirAll(filepath.Join(dir, SyntaxName[ts]), 0o755); err != nil {
			return nil, err
		}
	}
	total := series * perSeries
	err = runJobs(total, 2, func(k int) error {
		s, i := k/perSeries, k%perSeries
		base := filepath.Base(names[i%len(names)])
		e, err := os.ReadFile(filepath.Join(norm, "e-"+base))
		if err != nil {
			return err
		}
		im, err := os.ReadFile(filepath.Join(norm, "i-"+base))
		if err != nil {
			return err
		}
		m, err := dimse.ReadFileMeta(bufio.NewReader(bytes.NewReader(e)))
		if err != nil {
			return fmt.Errorf("dimsetest: %s: %w", base, err)
		}
		series := seriesUID(e)
		if series == "" {
			return fmt.Errorf("dimsetest: %s has no Series Instance UID", base)
		}
		repl := []string{m.SOPInstanceUID, newUID(m.SOPInstanceUID, fmt.Sprintf("9%d%04d", s, k)), series, newUID(series, fmt.Sprintf("8%d", s))}
		e, im = replace(e, repl), replace(im, repl)
		out := fmt.Sprintf("s%d-%04d.dcm", s+1, i+1)
		if err := os.WriteFile(filepath.Join(dir, "explicit", out), e, 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "implicit", out), im, 0o644); err != nil {
			return err
		}
		em, _ := dimse.ReadFileMeta(bufio.NewReader(bytes.NewReader(e)))
		d := dimse.AppendFileMeta(nil, dimse.FileMeta{SOPClassUID: em.SOPClassUID, SOPInstanceUID: em.SOPInstanceUID, TransferSyntaxUID: dimse.DeflatedExplicitVRLittleEndian})
		var buf bytes.Buffer
		fw, _ := flate.NewWriter(&buf, 6)
		fw.Write(e[em.DataSetOffset:])
		fw.Close()
		return os.WriteFile(filepath.Join(dir, "deflated", out), append(d, buf.Bytes()...), 0o644)
	})
	if err != nil {
		return nil, err
	}
	os.RemoveAll(norm)
	for _, ts := range Syntaxes {
		for s := range series {
			for i := range perSeries {
				st.Files[ts] = append(st.Files[ts], filepath.Join(dir, SyntaxName[ts], fmt.Sprintf("s%d-%04d.dcm", s+1, i+1)))
			}
		}
	}
	return st, nil
}

func runJobs(n, workers int, f func(int) error) error {
	var mu sync.Mutex
	var first error
	next := 0
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil
				mu.Unlock()
				if i >= n || stop {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// newUID keeps old's length: its tail is replaced by tag, so the UID stays
// valid (the changed component keeps its first digit) and unique per tag.
func newUID(old, tag string) string {
	i := strings.LastIndexByte(old, '.')
	if len(old)-i-1 <= len(tag) {
		panic("dimsetest: UID component too short for " + tag)
	}
	return old[:len(old)-len(tag)] + tag
}

func replace(b []byte, pairs []string) []byte {
	for i := 0; i < len(pairs); i += 2 {
		b = bytes.ReplaceAll(b, []byte(pairs[i]), []byte(pairs[i+1]))
	}
	return b
}

// seriesUID finds (0020,000E) in explicit or implicit LE bytes by its tag.
func seriesUID(b []byte) string {
	i := bytes.Index(b, []byte{0x20, 0, 0x0e, 0})
	if i < 0 || i+8 > len(b) {
		return ""
	}
	var n int
	if string(b[i+4:i+6]) == "UI" {
		n = int(b[i+6]) | int(b[i+7])<<8
		i += 8
	} else {
		n = int(b[i+4]) | int(b[i+5])<<8
		i += 8
	}
	if i+n > len(b) {
		return ""
	}
	return strings.TrimRight(string(b[i:i+n]), "\x00 ")
}

// DataSet returns the data set bytes of a Part 10 file, inflated when the
// file is deflated, for byte-for-byte comparison.
func DataSet(path string) ([]byte, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	m, err := dimse.ReadFileMeta(bufio.NewReader(bytes.NewReader(b)))
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	ds := b[m.DataSetOffset:]
	if m.TransferSyntaxUID == dimse.DeflatedExplicitVRLittleEndian {
		ds, err = io.ReadAll(flate.NewReader(bytes.NewReader(ds)))
		if err != nil {
			return nil, "", fmt.Errorf("%s: inflating: %w", path, err)
		}
	}
	return ds, m.TransferSyntaxUID, nil
}

// FileSHA256 returns the SHA-256 of a file.
func FileSHA256(path string) ([32]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return [32]byte{}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return [32]byte{}, err
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s, nil
}
