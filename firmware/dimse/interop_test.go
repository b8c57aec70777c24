package dimse_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"metsentry/firmware/dimse"
	"metsentry/firmware/dimse/dimsetest"
	"metsentry/firmware/testenv"
)

const (
	ourAE     = "METSENTRY"
	consoleAE = "CONSOLE"
	// perSeries is the size of each of the two series of the test study.
	perSeries = 176
)

var (
	studyOnce sync.Once
	study     *dimsetest.Study
	studyErr  error
	studyDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if studyDir != "" {
		os.RemoveAll(studyDir)
	}
	os.Exit(code)
}

// testStudy builds the 2×176 study once per test binary, in three syntaxes
// (only its first 40 instances deflated under -short).
func testStudy(t *testing.T) *dimsetest.Study {
	t.Helper()
	src := testenv.SharedData(t, "dicom", "philips-mprage-sag3d")
	testenv.Program(t, "dcmconv")
	studyOnce.Do(func() {
		studyDir, studyErr = os.MkdirTemp("", "dimse-study-")
		if studyErr == nil {
			deflated := 40
			if fullMatrix() {
				deflated = 2 * perSeries
			}
			study, studyErr = dimsetest.MakeStudy(src, studyDir, 2, perSeries, deflated)
		}
	})
	if studyErr != nil {
		t.Fatalf("building the test study: %v", studyErr)
	}
	return study
}

type server struct {
	*dimse.Server
	addr string
	host string
	port string
	dir  string
}

func startServer(t *testing.T) *server {
	t.Helper()
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := &dimse.Server{
		Policy: dimse.Policy{AETitle: ourAE, AllowedPeers: []dimse.Peer{{AETitle: consoleAE, Prefix: netip.MustParsePrefix("127.0.0.1/32")}},
			IdleTimeout: time.Minute},
		Storage: dimse.DirStorage{Dir: dir},
		Logger:  log,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		<-done
	})
	host, port, _ := strings.Cut(ln.Addr().String(), ":")
	return &server{Server: s, addr: ln.Addr().String(), host: host, port: port, dir: dir}
}

// run runs an external program with a time limit and fails the test with
// its output when it fails.
func run(t *testing.T, limit time.Duration, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	out, err := exec.CommandContext(ctx, testenv.Program(t, name), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, tail(out))
	}
	return string(out)
}

func tail(b []byte) string {
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

func TestEchoscuToUs(t *testing.T) {
	s := startServer(t)
	out := run(t, 20*time.Second, "echoscu", "-v", "-aet", consoleAE, "-aec", ourAE, s.host, s.port)
	if !strings.Contains(out, "Received Echo Response (Success)") {
		t.Errorf("echoscu did not report success:\n%s", out)
	}
	// A wrong called AE is refused.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out2, err := exec.CommandContext(ctx, "echoscu", "-aet", consoleAE, "-aec", "WRONG", s.host, s.port).CombinedOutput()
	if err == nil || !strings.Contains(string(out2), "Called AE Title Not Recognized") {
		t.Errorf("echoscu with a wrong called AE: err %v, output:\n%s", err, out2)
	}
}

var fullFlag = flag.Bool("dimse.full", false, "run the whole interop matrix even with -short")

// fullMatrix says whether every sender, syntax and association count sends
// the whole 2×176 study: always, except under -short (without -dimse.full).
func fullMatrix() bool { return *fullFlag || !testing.Short() }

// TestDCMTKSendersToUs sends the 2×176 study with storescu and dcmsend over 1
// and 4 parallel associations and checks that every instance's data set is on
// disk byte for byte. Every case sends the whole study; under -short the slow
// cases (dcmtk deflates and inflates at ~30 ms per instance on this hardware)
// send a slice of it.
func TestDCMTKSendersToUs(t *testing.T) {
	st := testStudy(t)
	const all = 0
	tests := []struct {
		sender   string
		ts       string
		parallel int
		n        int // instances sent; all means the whole study
	}{
		{"storescu", dimse.ExplicitVRLittleEndian, 1, all},
		{"storescu", dimse.ExplicitVRLittleEndian, 4, all},
		{"storescu", dimse.ImplicitVRLittleEndian, 1, 60},
		{"storescu", dimse.ImplicitVRLittleEndian, 4, all},
		{"storescu", dimse.DeflatedExplicitVRLittleEndian, 1, 24},
		{"storescu", dimse.DeflatedExplicitVRLittleEndian, 4, 40},
		{"dcmsend", dimse.ExplicitVRLittleEndian, 1, 60},
		{"dcmsend", dimse.ExplicitVRLittleEndian, 4, all},
		{"dcmsend", dimse.ImplicitVRLittleEndian, 1, 8},
		{"dcmsend", dimse.ImplicitVRLittleEndian, 4, 8},
		{"dcmsend", dimse.DeflatedExplicitVRLittleEndian, 1, 24},
		{"dcmsend", dimse.DeflatedExplicitVRLittleEndian, 4, 24},
	}
	for _, tt := range tests {
		n := tt.n
		if n == all || fullMatrix() {
			n = len(st.Files[tt.ts])
		}
		t.Run(fmt.Sprintf("%s/%s/%d", tt.sender, dimsetest.SyntaxName[tt.ts], tt.parallel), func(t *testing.T) {
			s := startServer(t)
			files := st.Files[tt.ts][:n]
			var args []string
			if tt.sender == "storescu" {
				opt := map[string]string{dimse.ExplicitVRLittleEndian: "-xe", dimse.ImplicitVRLittleEndian: "-xi", dimse.DeflatedExplicitVRLittleEndian: "-xd"}[tt.ts]
				args = []string{"-R", opt}
			} else {
				args = []string{"-dn"}
			}
			args = append(args, "-aet", consoleAE, "-aec", ourAE, s.host, s.port)
			var wg sync.WaitGroup
			errs := make([]error, tt.parallel)
			for w := range tt.parallel {
				var part []string
				for i := w; i < len(files); i += tt.parallel {
					part = append(part, files[i])
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
					defer cancel()
					out, err := exec.CommandContext(ctx, testenv.Program(t, tt.sender), append(slices.Clone(args), part...)...).CombinedOutput()
					if err != nil {
						errs[w] = fmt.Errorf("%s: %v\n%s", tt.sender, err, tail(out))
					}
				}()
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			if tt.sender == "dcmsend" && tt.ts == dimse.ImplicitVRLittleEndian {
				// dcmsend proposes Explicit VR LE first for an implicit
				// file and converts it; compare with dcmtk's own conversion.
				checkStored(t, s.dir, files, dimse.ExplicitVRLittleEndian, func(f string) string {
					out := filepath.Join(t.TempDir(), "conv.dcm")
					run(t, 20*time.Second, "dcmconv", "+te", f, out)
					return out
				})
				return
			}
			checkStored(t, s.dir, files, tt.ts, nil)
		})
	}
}

// checkStored compares each sent file's data set with the stored one.
func checkStored(t *testing.T, dir string, files []string, ts string, reference func(string) string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(files) {
		t.Errorf("%d files stored, want %d", len(entries), len(files))
	}
	bad := 0
	for _, f := range files {
		ref := f
		if reference != nil {
			ref = reference(f)
		}
		want, _, err := dimsetest.DataSet(ref)
		if err != nil {
			t.Fatal(err)
		}
		uid := sopInstanceUID(t, f)
		got, gotTS, err := dimsetest.DataSet(dimse.DirStorage{Dir: dir}.Path(uid))
		if err != nil {
			t.Errorf("instance %s: %v", filepath.Base(f), err)
			bad++
		} else if len(want)%2 == 1 && ts == dimse.DeflatedExplicitVRLittleEndian {
			// dcmtk writes a deflated file without the pad byte but sends
			// it padded to even length (PS3.5 §A.5); we keep what came.
			want = append(want, 0)
		}
		if err == nil && (gotTS != ts || !bytes.Equal(got, want)) {
			t.Errorf("instance %s: stored data set (%d bytes, %s) differs from the sent one (%d bytes, %s)", filepath.Base(f), len(got), gotTS, len(want), ts)
			bad++
		}
		if bad > 5 {
			t.Fatal("too many differences")
		}
	}
}

func sopInstanceUID(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := dimse.ReadFileMeta(bufioReader(f))
	if err != nil {
		t.Fatal(err)
	}
	return m.SOPInstanceUID
}

// startProgram starts a long-running peer and stops it at cleanup.
func startProgram(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(testenv.Program(t, name), args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, tail(out.Bytes()))
		}
	})
}

// dialRetry dials until the peer listens.
func dialRetry(t *testing.T, addr, calledAE string, contexts ...dimse.Context) *dimse.Assoc {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		a, err := dimse.Dial(ctx, addr, "METSENTRY", calledAE, contexts...)
		cancel()
		if err == nil {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("dial %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestUsToStorescp(t *testing.T) {
	st := testStudy(t)
	dir := t.TempDir()
	port := testenv.FreePort(t)
	startProgram(t, dir, "storescp", "-aet", "STORESCP", "-od", dir, "+xa", strconv.Itoa(port))
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a := dialRetry(t, addr, "STORESCP", append(dimse.StorageContexts(), dimse.VerificationContext())...)
	if err := a.Echo(ctx); err != nil {
		t.Fatal(err)
	}
	var sent []string
	for _, ts := range dimsetest.Syntaxes {
		files := st.Files[ts][:10]
		for _, f := range files {
			if err := a.StoreFile(ctx, f); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
		}
		sent = append(sent, files...)
		if ts == dimse.ExplicitVRLittleEndian {
			// storescp writes each file before it answers; check them.
			for _, f := range files {
				want, _, _ := dimsetest.DataSet(f)
				got, _, err := dimsetest.DataSet(filepath.Join(dir, "MR."+sopInstanceUID(t, f)))
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("storescp's copy of %s differs or is missing (%v)", filepath.Base(f), err)
				}
			}
		}
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 10 {
		// The same SOP instances went three times; storescp keeps one file
		// per instance (later ones get a suffix).
		t.Logf("storescp holds %d files for %d sends", len(entries), len(sent))
	}
	if len(entries) < 10 {
		t.Errorf("storescp holds %d files, want at least 10", len(entries))
	}
}

func TestUsToOrthanc(t *testing.T) {
	st := testStudy(t)
	dir := t.TempDir()
	dport, hport := testenv.FreePort(t), testenv.FreePort(t)
	cfg := map[string]any{
		"Name": "metsentry-test", "StorageDirectory": filepath.Join(dir, "storage"), "IndexDirectory": filepath.Join(dir, "index"),
		"DicomAet": "ORTHANC", "DicomPort": dport, "HttpPort": hport, "RemoteAccessAllowed": false, "AuthenticationEnabled": false,
		"DicomCheckCalledAet": true, "Plugins": []string{}, "HttpServerEnabled": true, "DicomServerEnabled": true,
	}
	b, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(dir, "orthanc.json")
	if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	startProgram(t, dir, "Orthanc", cfgPath)
	a := dialRetry(t, fmt.Sprintf("127.0.0.1:%d", dport), "ORTHANC", dimse.StorageContexts()...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Every result SOP class is negotiated, each in every syntax.
	accepted := map[string]int{}
	for _, c := range a.Contexts() {
		accepted[c.AbstractSyntax]++
	}
	for _, sop := range dimse.ResultSOPClasses {
		if accepted[sop] != len(dimse.TransferSyntaxes) {
			t.Errorf("Orthanc accepted SOP class %s in %d transfer syntaxes, want %d", sop, accepted[sop], len(dimse.TransferSyntaxes))
		}
	}
	var want []string
	for i, ts := range dimsetest.Syntaxes {
		for _, f := range st.Files[ts][i*5 : i*5+5] {
			if err := a.StoreFile(ctx, f); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			want = append(want, sopInstanceUID(t, f))
		}
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/instances?expand", hport))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []struct {
		MainDicomTags struct{ SOPInstanceUID string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	var uids []string
	for _, g := range got {
		uids = append(uids, g.MainDicomTags.SOPInstanceUID)
	}
	slices.Sort(uids)
	slices.Sort(want)
	if !slices.Equal(uids, want) {
		t.Errorf("Orthanc holds %d instances %v, want %d %v", len(uids), uids, len(want), want)
	}
}

// TestStoreDataset sends an in-memory data set parsed by suyashkumar/dicom.
func TestStoreDataset(t *testing.T) {
	st := testStudy(t)
	s := startServer(t)
	f := st.Files[dimse.ExplicitVRLittleEndian][0]
	ds, err := dicom.ParseFile(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := dimse.Dial(ctx, s.addr, consoleAE, ourAE, dimse.StorageContexts(dimse.MRImageStorage)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.StoreDataset(ctx, ds, dicom.SkipVRVerification()); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	stored, err := dicom.ParseFile(dimse.DirStorage{Dir: s.dir}.Path(sopInstanceUID(t, f)), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"SOPInstanceUID", "SeriesInstanceUID", "Rows", "Columns"} {
		if fmt.Sprint(find(ds, tag)) != fmt.Sprint(find(stored, tag)) {
			t.Errorf("%s: sent %v, stored %v", tag, find(ds, tag), find(stored, tag))
		}
	}
}

func find(ds dicom.Dataset, name string) string {
	info, err := tag.FindByName(name)
	if err != nil {
		return "no such tag " + name
	}
	e, err := ds.FindElementByTag(info.Tag)
	if err != nil {
		return "missing"
	}
	return e.Value.String()
}

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }
