package dimse

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// rawPeer speaks PDUs by hand, for what a well-behaved SCU never sends.
type rawPeer struct {
	t *testing.T
	c *conn
}

func dialRaw(t *testing.T, addr string) *rawPeer {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, testLimit)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(testLimit))
	t.Cleanup(func() { nc.Close() })
	return &rawPeer{t: t, c: newConn(nc, 1<<20)}
}

func (p *rawPeer) send(b []byte) {
	p.t.Helper()
	if _, err := p.c.nc.Write(b); err != nil {
		p.t.Fatalf("write: %v", err)
	}
}

// next returns the next PDU from the server, or nil when it closed.
func (p *rawPeer) next() PDU {
	p.t.Helper()
	pdu, err := p.c.readPDU()
	if err != nil {
		return nil
	}
	return pdu
}

func echo(t *testing.T, addr string) error {
	t.Helper()
	ctx := testCtx(t)
	a, err := Dial(ctx, addr, testPeer, testAE, VerificationContext())
	if err != nil {
		return err
	}
	if err := a.Echo(ctx); err != nil {
		a.Abort()
		return err
	}
	return a.Release(ctx)
}

func TestEcho(t *testing.T) {
	s := startServer(t, Policy{})
	if err := echo(t, s.Addr); err != nil {
		t.Fatal(err)
	}
}

func TestAssociationRejected(t *testing.T) {
	tests := []struct {
		name    string
		peers   []Peer
		calling string
		called  string
		wantRJ  AssociateRJ
	}{
		{"unknown calling AE", []Peer{{AETitle: "OTHER", Prefix: netip.MustParsePrefix("127.0.0.0/8")}}, testPeer, testAE,
			AssociateRJ{RejectPermanent, SourceServiceUser, ReasonCallingAENotRecognized}},
		{"known AE from an address not allowed", []Peer{{AETitle: testPeer, Prefix: netip.MustParsePrefix("10.0.0.0/8")}}, testPeer, testAE,
			AssociateRJ{RejectPermanent, SourceServiceUser, ReasonCallingAENotRecognized}},
		{"no allowed peers at all", []Peer{}, testPeer, testAE,
			AssociateRJ{RejectPermanent, SourceServiceUser, ReasonCallingAENotRecognized}},
		{"wrong called AE", loopbackPeers, testPeer, "NOTUS",
			AssociateRJ{RejectPermanent, SourceServiceUser, ReasonCalledAENotRecognized}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, Policy{AllowedPeers: tt.peers})
			_, err := Dial(testCtx(t), s.Addr, tt.calling, tt.called, VerificationContext())
			var rj *RejectError
			if !errors.As(err, &rj) || !errors.Is(err, ErrRejected) {
				t.Fatalf("Dial = %v, want a *RejectError", err)
			}
			if rj.AssociateRJ != tt.wantRJ {
				t.Errorf("reject %+v, want %+v", rj.AssociateRJ, tt.wantRJ)
			}
			if s.Active() != 0 {
				t.Errorf("%d associations active after a reject", s.Active())
			}
		})
	}
}

func TestAllowedPeerMatchesAE(t *testing.T) {
	s := startServer(t, Policy{AllowedPeers: []Peer{{AETitle: testPeer, Prefix: netip.MustParsePrefix("127.0.0.1/32")}}})
	if err := echo(t, s.Addr); err != nil {
		t.Fatal(err)
	}
}

func TestPresentationContextResults(t *testing.T) {
	s := startServer(t, Policy{})
	ctx := testCtx(t)
	a, err := Dial(ctx, s.Addr, testPeer, testAE,
		Context{AbstractSyntax: "1.2.840.10008.5.1.4.1.1.2", TransferSyntaxes: []string{ExplicitVRLittleEndian}}, // CT: not ours
		Context{AbstractSyntax: MRImageStorage, TransferSyntaxes: []string{"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.2"}},
		Context{AbstractSyntax: MRImageStorage, TransferSyntaxes: []string{"1.2.840.10008.1.2.4.50", DeflatedExplicitVRLittleEndian, ImplicitVRLittleEndian}},
		VerificationContext(),
	)
	if err != nil {
		t.Fatal(err)
	}
	got := map[byte]ContextAC{}
	for _, c := range a.AC.Contexts {
		got[c.ID] = ContextAC{ID: c.ID, Result: c.Result}
		if c.Result == ResultAcceptance {
			got[c.ID] = c
		}
	}
	want := map[byte]ContextAC{
		1: {ID: 1, Result: ResultAbstractSyntaxNotSupported},
		3: {ID: 3, Result: ResultTransferSyntaxesNotSupported},
		5: {ID: 5, Result: ResultAcceptance, TransferSyntax: DeflatedExplicitVRLittleEndian},
		7: {ID: 7, Result: ResultAcceptance, TransferSyntax: ImplicitVRLittleEndian},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("context results (-want +got):\n%s", d)
	}
	// The association goes on with the accepted contexts.
	if err := a.Echo(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestOnlyUnsupportedContexts(t *testing.T) {
	s := startServer(t, Policy{})
	ctx := testCtx(t)
	a, err := Dial(ctx, s.Addr, testPeer, testAE, Context{AbstractSyntax: MRImageStorage, TransferSyntaxes: []string{"1.2.840.10008.1.2.4.90"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Contexts()) != 0 || a.AC.Contexts[0].Result != ResultTransferSyntaxesNotSupported {
		t.Errorf("contexts %+v, want one refused with result 4", a.AC.Contexts)
	}
	if err := a.Echo(ctx); !errors.Is(err, ErrNoContext) {
		t.Errorf("Echo = %v, want ErrNoContext", err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestMaxAssociations(t *testing.T) {
	s := startServer(t, Policy{})
	ctx := testCtx(t)
	var open []*Assoc
	for i := range DefaultMaxAssociations {
		a, err := Dial(ctx, s.Addr, testPeer, testAE, VerificationContext())
		if err != nil {
			t.Fatalf("association %d: %v", i+1, err)
		}
		open = append(open, a)
	}
	_, err := Dial(ctx, s.Addr, testPeer, testAE, VerificationContext())
	var rj *RejectError
	if !errors.As(err, &rj) || rj.AssociateRJ != (AssociateRJ{RejectTransient, SourceServiceProviderPresentation, ReasonLocalLimitExceeded}) {
		t.Fatalf("33rd Dial = %v, want transient reject for local limit exceeded", err)
	}
	if err := open[0].Release(ctx); err != nil {
		t.Fatal(err)
	}
	// Once one is released, a new one is accepted.
	deadline := time.Now().Add(testLimit)
	for {
		err := echo(t, s.Addr)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrRejected) || time.Now().After(deadline) {
			t.Fatalf("echo after a release: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, a := range open[1:] {
		if err := a.Echo(ctx); err != nil {
			t.Fatal(err)
		}
		a.Release(ctx)
	}
}

func TestMalformedPDUs(t *testing.T) {
	rq := EncodePDU(nil, sampleRQ())
	tests := []struct {
		name string
		send []byte
		// afterAssoc sends send after a good association is accepted.
		afterAssoc bool
		wantAbort  bool
	}{
		{"unknown type", []byte{0x09, 0, 0, 0, 0, 4, 0, 0, 0, 0}, false, true},
		{"2 GB declared length", []byte{TypeAssociateRQ, 0, 0x7F, 0xFF, 0xFF, 0xFF}, false, true},
		{"bad length", append([]byte{TypeAssociateRQ, 0, 0, 0, 0, 10}, make([]byte, 10)...), false, true},
		{"truncated then closed", rq[:len(rq)/2], false, false},
		{"bad item length", func() []byte { b := bytes.Clone(rq); b[pduHeaderLen+68+2] = 0xFF; return b }(), false, true},
		{"P-DATA before association", EncodePDU(nil, &PDataTF{Items: []PDV{{ContextID: 1, Command: true, Last: true, Data: []byte{0}}}}), false, true},
		{"2 GB P-DATA in association", []byte{TypePDataTF, 0, 0x7F, 0xFF, 0xFF, 0xFF}, true, true},
		{"garbage command set", EncodePDU(nil, &PDataTF{Items: []PDV{{ContextID: 1, Command: true, Last: true, Data: []byte{1, 2, 3}}}}), true, true},
		{"command on unknown context", EncodePDU(nil, &PDataTF{Items: []PDV{{ContextID: 99, Command: true, Last: true,
			Data: (&Command{CommandField: CEchoRQ, MessageID: 1, CommandDataSetType: NoDataSet}).Encode()}}}), true, true},
		{"second A-ASSOCIATE-RQ", rq, true, true},
	}
	s := startServer(t, Policy{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := dialRaw(t, s.Addr)
			if tt.afterAssoc {
				p.send(rq)
				if _, ok := p.next().(*AssociateAC); !ok {
					t.Fatal("no A-ASSOCIATE-AC")
				}
			}
			p.send(tt.send)
			if !tt.wantAbort {
				p.c.nc.(*net.TCPConn).CloseWrite()
			}
			got := p.next()
			if ab, ok := got.(*Abort); tt.wantAbort && (!ok || ab.Source != AbortSourceProvider) {
				t.Errorf("got %#v, want A-ABORT from the provider", got)
			}
			if !tt.wantAbort && got != nil {
				t.Errorf("got %#v, want the connection closed", got)
			}
			if p.next() != nil {
				t.Errorf("connection still open after abort")
			}
			// The server goes on serving.
			if err := echo(t, s.Addr); err != nil {
				t.Fatalf("echo after %s: %v", tt.name, err)
			}
		})
	}
	// Each association ends when its peer closes; wait for the last one.
	deadline := time.Now().Add(testLimit)
	for s.Active() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := s.Active(); n != 0 {
		t.Errorf("%d associations still active", n)
	}
}

// waitFor advances the fake clock until the peer sees got return true.
func advanceUntil(t *testing.T, clk *fakeClock, d time.Duration, done <-chan PDU) PDU {
	t.Helper()
	deadline := time.After(testLimit)
	for {
		clk.Advance(d)
		select {
		case p := <-done:
			return p
		case <-deadline:
			t.Fatal("timer never fired")
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func TestIdleTimeout(t *testing.T) {
	s := startServer(t, Policy{IdleTimeout: time.Minute})
	p := dialRaw(t, s.Addr)
	p.send(EncodePDU(nil, sampleRQ()))
	if _, ok := p.next().(*AssociateAC); !ok {
		t.Fatal("no A-ASSOCIATE-AC")
	}
	got := make(chan PDU, 1)
	go func() { got <- p.next() }()
	if ab, ok := advanceUntil(t, s.clock, time.Minute, got).(*Abort); !ok || ab.Source != AbortSourceProvider {
		t.Fatalf("idle association got %#v, want A-ABORT", ab)
	}
}

func TestARTIMClosesSilentConnection(t *testing.T) {
	s := startServer(t, Policy{ARTIMTimeout: 10 * time.Second})
	p := dialRaw(t, s.Addr)
	got := make(chan PDU, 1)
	go func() { got <- p.next() }()
	if pdu, _ := advanceUntil(t, s.clock, 10*time.Second, got).(*Abort); pdu == nil {
		t.Fatalf("silent connection got no A-ABORT")
	}
	if p.next() != nil {
		t.Fatal("connection still open")
	}
}

// failingStorage answers Store with err after the SCP streamed the file.
type failingStorage struct {
	DirStorage
	err error
}

func (s failingStorage) Store(ctx context.Context, f *os.File, in Instance) error {
	if s.err != nil {
		f.Close()
		os.Remove(f.Name())
		return s.err
	}
	return s.DirStorage.Store(ctx, f, in)
}

// testInstance builds a minimal Part 10 MR instance.
// testInstance is an MR image the shared DICOM check accepts: one row of
// extra/2 16-bit pixels (extra is rounded up to even), so a test chooses
// its size.
func testInstance(sopInstance, datasetUID string, extra int) []byte {
	extra += extra % 2
	us := func(v int) string { return string([]byte{byte(v), byte(v >> 8)}) }
	meta := AppendFileMeta(nil, FileMeta{SOPClassUID: MRImageStorage, SOPInstanceUID: sopInstance, TransferSyntaxUID: ExplicitVRLittleEndian})
	ds := appendExplicit(nil, 0x0008, 0x0016, "UI", MRImageStorage)
	ds = appendExplicit(ds, 0x0008, 0x0018, "UI", datasetUID)
	ds = appendExplicit(ds, 0x0010, 0x0010, "PN", "Anon")
	ds = appendExplicit(ds, 0x0020, 0x000D, "UI", "1.2.3.100")
	ds = appendExplicit(ds, 0x0020, 0x000E, "UI", "1.2.3.100.1")
	ds = appendExplicit(ds, 0x0028, 0x0002, "US", us(1))
	ds = appendExplicit(ds, 0x0028, 0x0010, "US", us(1))
	ds = appendExplicit(ds, 0x0028, 0x0011, "US", us(extra/2))
	ds = appendExplicit(ds, 0x0028, 0x0100, "US", us(16))
	ds = append(ds, 0xE0, 0x7F, 0x10, 0x00, 'O', 'W', 0, 0)
	ds = append(ds, byte(extra), byte(extra>>8), byte(extra>>16), byte(extra>>24))
	ds = append(ds, make([]byte, extra)...)
	return append(meta, ds...)
}

func appendExplicit(b []byte, g, e uint16, vr, s string) []byte {
	if len(s)%2 == 1 {
		s += "\x00"
	}
	b = append(b, byte(g), byte(g>>8), byte(e), byte(e>>8), vr[0], vr[1], byte(len(s)), byte(len(s)>>8))
	return append(b, s...)
}

func TestStoreStatuses(t *testing.T) {
	tests := []struct {
		name       string
		storageErr error
		datasetUID string
		maxDataSet int64
		size       int
		want       uint16
	}{
		{"success", nil, "1.2.3.1", 0, 100000, StatusSuccess},
		{"storage out of resources", fmt.Errorf("cache: disk full: %w", ErrOutOfResources), "1.2.3.1", 0, 1000, StatusOutOfResources},
		{"storage says mismatch", fmt.Errorf("cache: %w", ErrDataSetMismatch), "1.2.3.1", 0, 1000, StatusDataSetMismatch},
		{"storage fails otherwise", errors.New("cache: bbolt: broken"), "1.2.3.1", 0, 1000, StatusCannotUnderstand},
		{"data set UID differs from request", nil, "1.2.3.999", 0, 1000, StatusDataSetMismatch},
		{"data set too large", nil, "1.2.3.1", 50000, 100000, StatusOutOfResources},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, Policy{MaxDataSetBytes: tt.maxDataSet, MaxPDULength: 8192},
				func(dir string) Storage { return failingStorage{DirStorage{dir}, tt.storageErr} })
			ctx := testCtx(t)
			a, err := Dial(ctx, s.Addr, testPeer, testAE, StorageContexts(MRImageStorage)...)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Release(ctx)
			file := testInstance("1.2.3.1", tt.datasetUID, tt.size)
			err = a.StoreBytes(ctx, file)
			var se *StatusError
			switch {
			case tt.want == StatusSuccess && err != nil:
				t.Fatalf("StoreBytes = %v, want success", err)
			case tt.want != StatusSuccess && (!errors.As(err, &se) || se.Status != tt.want):
				t.Fatalf("StoreBytes = %v, want status %04X", err, tt.want)
			}
			entries, _ := os.ReadDir(s.Dir)
			if tt.want == StatusSuccess {
				got, err := os.ReadFile(filepath.Join(s.Dir, "1.2.3.1.dcm"))
				if err != nil {
					t.Fatal(err)
				}
				gm, err := ReadFileMeta(bufio.NewReader(bytes.NewReader(got)))
				if err != nil {
					t.Fatal(err)
				}
				fm, _ := ReadFileMeta(bufio.NewReader(bytes.NewReader(file)))
				if !bytes.Equal(got[gm.DataSetOffset:], file[fm.DataSetOffset:]) || gm.SourceAE != testPeer || gm.TransferSyntaxUID != ExplicitVRLittleEndian {
					t.Errorf("stored file differs from the sent one: meta %+v", gm)
				}
			} else if len(entries) != 0 {
				t.Errorf("refused instance left %d files behind", len(entries))
			}
			// The association goes on.
			if err := a.StoreBytes(ctx, testInstance("1.2.3.2", "1.2.3.2", 10)); tt.storageErr == nil && err != nil {
				t.Errorf("next store: %v", err)
			}
		})
	}
}

func TestTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	tests := []struct {
		name       string
		clientAuth bool // the server asks for a client certificate
		clientCert bool // the client has one
		wantErr    bool
	}{
		{"server auth only", false, false, false},
		{"mutual auth", true, true, false},
		{"client without certificate refused", true, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var clientCAs *x509.CertPool
			if tt.clientAuth {
				clientCAs = pool
			}
			s := startServer(t, Policy{TLS: ServerTLSConfig(cert, clientCAs)})
			ctx := testCtx(t)
			var cc *tls.Certificate
			if tt.clientCert {
				cc = &cert
			}
			d := Dialer{TLS: ClientTLSConfig("127.0.0.1", pool, cc)}
			a, err := d.Dial(ctx, s.Addr, testPeer, testAE, append(StorageContexts(MRImageStorage), VerificationContext())...)
			if tt.wantErr {
				if err == nil {
					err = a.Echo(ctx) // TLS 1.3 reports a refused client certificate on first read
				}
				if err == nil {
					t.Fatal("association without a client certificate worked")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Echo(ctx); err != nil {
				t.Fatal(err)
			}
			if err := a.StoreBytes(ctx, testInstance("1.2.3.7", "1.2.3.7", 70000)); err != nil {
				t.Fatal(err)
			}
			if err := a.Release(ctx); err != nil {
				t.Fatal(err)
			}
			// A plain-TCP peer gets nothing.
			if _, err := Dial(ctx, s.Addr, testPeer, testAE, VerificationContext()); err == nil {
				t.Error("plain TCP association accepted by a TLS server")
			}
		})
	}
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "metsentry test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestShutdownAbortsOpenAssociations(t *testing.T) {
	s := &Server{Policy: Policy{AETitle: testAE, AllowedPeers: loopbackPeers}, Storage: DirStorage{t.TempDir()}, Logger: testLogger(t)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.Serve(context.Background(), ln) }()
	a, err := Dial(testCtx(t), ln.Addr().String(), testPeer, testAE, VerificationContext())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want DeadlineExceeded with an association open", err)
	}
	wg.Wait()
	if err := a.Echo(testCtx(t)); err == nil {
		t.Error("association still works after Shutdown")
	}
}

// TestEndedHook: Server.Ended is told once of each accepted association
// when it ends, after the last store of it has returned, with the peer's
// address and port, whether the peer released it, and what it stored and
// refused; an abort or a dropped connection is no release.
func TestEndedHook(t *testing.T) {
	tests := []struct {
		name            string
		stores, refused int
		end             func(a *Assoc, ctx context.Context) error
		released        bool
	}{
		{"release after two stores", 2, 0, func(a *Assoc, ctx context.Context) error { return a.Release(ctx) }, true},
		{"release with nothing stored", 0, 0, func(a *Assoc, ctx context.Context) error { return a.Release(ctx) }, true},
		{"release after a refusal", 1, 1, func(a *Assoc, ctx context.Context) error { return a.Release(ctx) }, true},
		{"abort", 1, 0, func(a *Assoc, _ context.Context) error { return a.Abort() }, false},
		{"connection dropped", 1, 0, func(a *Assoc, _ context.Context) error { return a.c.nc.Close() }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := make(chan AssociationEnd, 4)
			dir := t.TempDir()
			s := &Server{Policy: Policy{AETitle: testAE, AllowedPeers: loopbackPeers}, Storage: DirStorage{Dir: dir},
				Logger: testLogger(t), Ended: func(e AssociationEnd) { calls <- e }}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- s.Serve(context.Background(), ln) }()
			ctx := testCtx(t)
			a, err := Dial(ctx, ln.Addr().String(), testPeer, testAE, StorageContexts(MRImageStorage)...)
			if err != nil {
				t.Fatal(err)
			}
			local := addrPort(a.c.nc.LocalAddr())
			for i := range tt.stores {
				uid := fmt.Sprintf("1.2.3.%d", i+1)
				if err := a.StoreBytes(ctx, testInstance(uid, uid, 100)); err != nil {
					t.Fatal(err)
				}
			}
			for i := range tt.refused {
				// A data set whose SOP Instance UID differs from its request's.
				uid := fmt.Sprintf("1.2.4.%d", i+1)
				if err := a.StoreBytes(ctx, testInstance(uid, uid+".9", 100)); err == nil {
					t.Fatal("a mismatched instance was stored")
				}
			}
			if err := tt.end(a, ctx); err != nil {
				t.Fatal(err)
			}
			// Shutdown waits for the association's goroutine, so every
			// call it made is in the channel.
			if err := s.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			<-done
			close(calls)
			var got []AssociationEnd
			for c := range calls {
				got = append(got, c)
			}
			want := AssociationEnd{Remote: local, Released: tt.released, Stored: tt.stores, Refused: tt.refused}
			if len(got) != 1 || got[0] != want {
				t.Errorf("Ended called %+v; want once with %+v", got, want)
			}
		})
	}
}
