// Package dimsetest builds test studies for the dimse package's interop
// tests and for tools/dimsebench: a two-series MR study made from the real
// Philips MPRAGE slices in the shared data folder, in Explicit VR LE,
// Implicit VR LE and Deflated Explicit VR LE.
package dimsetest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

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
// slices in src (a folder of Explicit VR LE MR files). Each copy of a source
// slice gets new SOP Instance and Series Instance UIDs of the same length,
// replaced in place. The copies are then sent once through dcmtk (storescu to
// a storescp that accepts only Explicit VR LE, then only Implicit VR LE) so
// that their encoding is dcmtk's own and a dcmtk sender re-encodes them byte
// for byte. The deflated files are written here with compress/flate from the
// The first deflated instances are also sent through a storescp that prefers
// Deflated Explicit VR LE (dcmtk deflates at ~30 ms an instance, so callers
// ask only for what they send). storescu and storescp must be on PATH;
// storescp listens on a free loopback port for the time it takes.
func MakeStudy(src, dir string, series, perSeries, deflated int) (*Study, error) {
	names, err := filepath.Glob(filepath.Join(src, "*.dcm"))
	if err != nil || len(names) == 0 {
		return nil, fmt.Errorf("dimsetest: no .dcm files in %s (%v)", src, err)
	}
	slices.Sort(names)
	raw := filepath.Join(dir, "raw")
	for _, d := range []string{raw, filepath.Join(dir, "explicit"), filepath.Join(dir, "implicit"), filepath.Join(dir, "deflated")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	nameOf := map[string]string{} // new SOP Instance UID -> file name
	var rawFiles []string
	for k := range series * perSeries {
		s, i := k/perSeries, k%perSeries
		e, err := os.ReadFile(names[i%len(names)])
		if err != nil {
			return nil, err
		}
		m, err := dimse.ReadFileMeta(bufio.NewReader(bytes.NewReader(e)))
		if err != nil {
			return nil, fmt.Errorf("dimsetest: %s: %w", names[i%len(names)], err)
		}
		ser := seriesUID(e)
		if ser == "" {
			return nil, fmt.Errorf("dimsetest: %s has no Series Instance UID", names[i%len(names)])
		}
		uid := newUID(m.SOPInstanceUID, fmt.Sprintf("9%d%04d", s, k))
		e = replace(e, []string{m.SOPInstanceUID, uid, ser, newUID(ser, fmt.Sprintf("8%d", s))})
		name := fmt.Sprintf("s%d-%04d.dcm", s+1, i+1)
		nameOf[uid] = name
		p := filepath.Join(raw, name)
		if err := os.WriteFile(p, e, 0o644); err != nil {
			return nil, err
		}
		rawFiles = append(rawFiles, p)
	}
	// Raw copies -> explicit (dcmtk encoding) -> implicit.
	if err := throughDCMTK(rawFiles, filepath.Join(dir, "explicit"), "+xe", "-xe", nameOf); err != nil {
		return nil, err
	}
	st := &Study{Dir: dir, Files: map[string][]string{}}
	for _, f := range rawFiles {
		st.Files[dimse.ExplicitVRLittleEndian] = append(st.Files[dimse.ExplicitVRLittleEndian], filepath.Join(dir, "explicit", filepath.Base(f)))
	}
	if err := throughDCMTK(st.Files[dimse.ExplicitVRLittleEndian], filepath.Join(dir, "implicit"), "+xi", "-xi", nameOf); err != nil {
		return nil, err
	}
	deflated = min(deflated, len(rawFiles))
	if deflated > 0 {
		if err := throughDCMTK(st.Files[dimse.ExplicitVRLittleEndian][:deflated], filepath.Join(dir, "deflated"), "+xd", "-xd", nameOf); err != nil {
			return nil, err
		}
	}
	for i, f := range st.Files[dimse.ExplicitVRLittleEndian] {
		base := filepath.Base(f)
		st.Files[dimse.ImplicitVRLittleEndian] = append(st.Files[dimse.ImplicitVRLittleEndian], filepath.Join(dir, "implicit", base))
		if i < deflated {
			st.Files[dimse.DeflatedExplicitVRLittleEndian] = append(st.Files[dimse.DeflatedExplicitVRLittleEndian], filepath.Join(dir, "deflated", base))
		}
	}
	os.RemoveAll(raw)
	return st, nil
}

// throughDCMTK sends files with storescu (proposing with scuOpt) to a
// storescp (accepting with scpOpt) writing into out, then renames what it
// wrote to the names in nameOf.
func throughDCMTK(files []string, out, scpOpt, scuOpt string, nameOf map[string]string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	// TCP_NODELAY=1 makes dcmtk turn Nagle's algorithm off.
	env := append(os.Environ(), "TCP_NODELAY=1")
	scp := exec.Command("storescp", "-aet", "STORESCP", "-od", out, scpOpt, port)
	scp.Env = env
	var scpOut bytes.Buffer
	scp.Stdout, scp.Stderr = &scpOut, &scpOut
	if err := scp.Start(); err != nil {
		return fmt.Errorf("dimsetest: starting storescp: %w", err)
	}
	defer func() { scp.Process.Kill(); scp.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("dimsetest: storescp did not listen on port %s: %s", port, scpOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := append([]string{"-R", scuOpt, "-aet", "DIMSETEST", "-aec", "STORESCP", "127.0.0.1", port}, files...)
	scu := exec.CommandContext(ctx, "storescu", args...)
	scu.Env = env
	if b, err := scu.CombinedOutput(); err != nil {
		return fmt.Errorf("dimsetest: storescu %s: %v: %s", scuOpt, err, b)
	}
	written, err := filepath.Glob(filepath.Join(out, "MR.*"))
	if err != nil {
		return err
	}
	if len(written) != len(files) {
		return fmt.Errorf("dimsetest: storescp wrote %d files for %d sent", len(written), len(files))
	}
	for _, w := range written {
		name, ok := nameOf[strings.TrimPrefix(filepath.Base(w), "MR.")]
		if !ok {
			return fmt.Errorf("dimsetest: storescp wrote an unexpected file %s", w)
		}
		if err := os.Rename(w, filepath.Join(out, name)); err != nil {
			return err
		}
	}
	return nil
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

// DataSet returns the data set bytes of a Part 10 file as stored (deflated
// ones stay deflated) and its transfer syntax.
func DataSet(path string) ([]byte, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	m, err := dimse.ReadFileMeta(bufio.NewReader(bytes.NewReader(b)))
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	return b[m.DataSetOffset:], m.TransferSyntaxUID, nil
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
