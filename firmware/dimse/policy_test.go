package dimse

import (
	"context"
	"crypto/sha256"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"metsentry/firmware/config"
)

func TestPolicyFromConfig(t *testing.T) {
	site := &config.Site{AETitle: "METSENTRY", AllowedPeers: []config.Peer{
		{AETitle: "CONSOLE", Address: "192.168.10.0/24"},
		{AETitle: "WS1", Address: "10.1.2.3"},
	}}
	board := &config.Board{Limits: config.Limits{MaxAssociations: 8, MaxPDUBytes: 65536}}
	got, err := PolicyFromConfig(site, board)
	if err != nil {
		t.Fatal(err)
	}
	want := Policy{
		AETitle: "METSENTRY",
		AllowedPeers: []Peer{
			{AETitle: "CONSOLE", Prefix: netip.MustParsePrefix("192.168.10.0/24")},
			{AETitle: "WS1", Prefix: netip.MustParsePrefix("10.1.2.3/32")},
		},
		MaxAssociations: 8, IdleTimeout: DefaultIdleTimeout, ARTIMTimeout: DefaultARTIMTimeout,
		MaxPDULength: 65536, MaxDataSetBytes: DefaultMaxDataSetBytes,
		StrangerConnections: DefaultStrangerConnections, StrangerPerAddress: DefaultStrangerPerAddress,
		StrangerTimeout: DefaultStrangerTimeout,
	}
	if d := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
		t.Errorf("policy (-want +got):\n%s", d)
	}
	if !got.allowed("CONSOLE", netip.MustParseAddr("192.168.10.77")) || got.allowed("CONSOLE", netip.MustParseAddr("10.1.2.3")) {
		t.Error("allow-list does not pair AE titles with their addresses")
	}
	site.AllowedPeers[1].Address = "10.1.2.300"
	if _, err := PolicyFromConfig(site, board); err == nil {
		t.Error("bad peer address accepted")
	}
}

// recordingStorage keeps what Store was given.
type recordingStorage struct {
	DirStorage
	mu  sync.Mutex
	got []Instance
}

func (s *recordingStorage) Store(ctx context.Context, f *os.File, in Instance) error {
	s.mu.Lock()
	s.got = append(s.got, in)
	s.mu.Unlock()
	return s.DirStorage.Store(ctx, f, in)
}

func TestStoreHandsOverInstance(t *testing.T) {
	var rec *recordingStorage
	s := startServer(t, Policy{}, func(dir string) Storage { rec = &recordingStorage{DirStorage: DirStorage{dir}}; return rec })
	ctx := testCtx(t)
	a, err := Dial(ctx, s.Addr, testPeer, testAE, StorageContexts(MRImageStorage)...)
	if err != nil {
		t.Fatal(err)
	}
	file := testInstance("1.2.3.5", "1.2.3.5", 30000)
	if err := a.StoreBytes(ctx, file); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	stored, err := os.ReadFile(DirStorage{s.Dir}.Path("1.2.3.5"))
	if err != nil {
		t.Fatal(err)
	}
	fm, _ := ReadFileMeta(bufioReader(file))
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.got) != 1 {
		t.Fatalf("Store called %d times, want 1", len(rec.got))
	}
	in := rec.got[0]
	if in.SHA256 != sha256.Sum256(stored) {
		t.Error("Instance.SHA256 is not the hash of the stored file")
	}
	if in.DataSetSHA256 != sha256.Sum256(file[fm.DataSetOffset:]) {
		t.Error("Instance.DataSetSHA256 is not the hash of the data set sent")
	}
	want := Instance{SOPClassUID: MRImageStorage, SOPInstanceUID: "1.2.3.5", TransferSyntaxUID: ExplicitVRLittleEndian,
		CallingAE: testPeer, CalledAE: testAE, Remote: in.Remote, Size: int64(len(file)) - fm.DataSetOffset, SHA256: in.SHA256,
		DataSetSHA256: in.DataSetSHA256}
	if in != want {
		t.Errorf("Instance %+v, want %+v", in, want)
	}
	if !in.Remote.Addr().IsLoopback() {
		t.Errorf("Remote %v is not the loopback peer", in.Remote)
	}
	if entries, _ := os.ReadDir(s.Dir); len(entries) != 1 {
		t.Errorf("%d files in the storage folder, want 1 (no temp file left)", len(entries))
	}
}

func TestDirStoragePath(t *testing.T) {
	tests := []struct{ name, uid, want string }{
		{"plain UID", "1.2.840.1", "1.2.840.1.dcm"},
		{"path traversal", "../../etc/passwd", "x"},
		{"empty", "", "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DirStorage{Dir: "/d"}.Path(tt.uid)
			if tt.want == "x" {
				if len(got) != len("/d/x")+32+4 || got[:4] != "/d/x" {
					t.Errorf("Path(%q) = %q, want a hashed name in /d", tt.uid, got)
				}
				return
			}
			if got != "/d/"+tt.want {
				t.Errorf("Path(%q) = %q", tt.uid, got)
			}
		})
	}
}

func TestDirStorageParallelStores(t *testing.T) {
	dir := t.TempDir()
	st := DirStorage{Dir: dir}
	var wg sync.WaitGroup
	const n = 32
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := st.CreateTemp()
			if err != nil {
				errs <- err
				return
			}
			uid := "1.2.3." + strconv.Itoa(i+1)
			f.Write(testInstance(uid, uid, 64))
			errs <- st.Store(context.Background(), f, Instance{SOPInstanceUID: uid})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != n {
		t.Errorf("%d files, want %d", len(entries), n)
	}
	d := dirSyncerFor(dir)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done == 0 || d.done > n || d.running {
		t.Errorf("folder synced %d times for %d stores (running %v)", d.done, n, d.running)
	}
}

// slowStorage blocks in Store until released.
type slowStorage struct {
	DirStorage
	entered, release chan struct{}
}

func (s slowStorage) Store(ctx context.Context, f *os.File, in Instance) error {
	s.entered <- struct{}{}
	<-s.release
	return s.DirStorage.Store(ctx, f, in)
}

// A Store slower than the idle timeout is not the peer's idleness.
func TestIdleTimerPausedDuringStore(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	s := startServer(t, Policy{IdleTimeout: time.Minute}, func(dir string) Storage { return slowStorage{DirStorage{dir}, entered, release} })
	ctx := testCtx(t)
	a, err := Dial(ctx, s.Addr, testPeer, testAE, StorageContexts(MRImageStorage)...)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.StoreBytes(ctx, testInstance("1.2.3.8", "1.2.3.8", 1000)) }()
	<-entered
	s.clock.Advance(10 * time.Minute)
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("store across a long Store: %v", err)
	}
	go func() { <-entered }()
	if err := a.StoreBytes(ctx, testInstance("1.2.3.9", "1.2.3.9", 1000)); err != nil {
		t.Fatalf("next store: %v", err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
}
