package dimse_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"metsentry/firmware/cache"
	"metsentry/firmware/dcmguard/dcmguardtest"
	"metsentry/firmware/dimse"
)

// cacheStorage passes instances to the cache as the daemon's adapter does:
// a cache error goes back to the SCP as it is (the daemon only marks a full
// disk and a UID mismatch).
type cacheStorage struct{ s *cache.Store }

func (c cacheStorage) CreateTemp() (*os.File, error) { return c.s.CreateTemp() }

func (c cacheStorage) Store(ctx context.Context, f *os.File, in dimse.Instance) error {
	return c.s.PutInstance(ctx, f, cache.Received{SOPClassUID: in.SOPClassUID, SOPInstanceUID: in.SOPInstanceUID,
		TransferSyntaxUID: in.TransferSyntaxUID, CallingAE: in.CallingAE, SHA256: in.SHA256})
}

// TestSCPRefusesHostileInstances sends what the hardening campaign sent,
// over DIMSE to an SCP that stores into the cache: deeply nested sequences
// (which crashed the process), pixel data that does not match its
// attributes, a malformed UID, NaN geometry, BitsAllocated 0. Each gets a
// failure status with a reason the console shows, nothing is recorded, and
// the SCP goes on serving: the valid image after them is stored.
func TestSCPRefusesHostileInstances(t *testing.T) {
	store, err := cache.Open(t.TempDir(), cache.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	srv := &dimse.Server{
		Policy:  dimse.Policy{AETitle: "METSENTRY", AllowedPeers: []dimse.Peer{{Prefix: netip.MustParsePrefix("127.0.0.1/32")}}},
		Storage: cacheStorage{store}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, err := dimse.Dial(ctx, ln.Addr().String(), "CONSOLE", "METSENTRY", append(dimse.StorageContexts(dimse.MRImageStorage), dimse.VerificationContext())...)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release(ctx)

	spoil := func(ts string, f func(*dcmguardtest.Image)) []byte {
		im := dcmguardtest.DefaultImage(2)
		f(&im)
		return im.File(ts)
	}
	for _, tc := range []struct {
		name    string
		file    []byte
		status  uint16
		comment string
	}{
		{"deflated, nested 1.8 million deep", spoil(dcmguardtest.DeflatedExplicitVRLittleEndian, func(im *dcmguardtest.Image) { im.Nested = 1_800_000 }),
			dimse.StatusCannotUnderstand, "sequences nested deeper than 16 levels"},
		{"explicit, nested 100000 deep", spoil(dcmguardtest.ExplicitVRLittleEndian, func(im *dcmguardtest.Image) { im.Nested = 100_000 }),
			dimse.StatusCannotUnderstand, "sequences nested deeper than 16 levels"},
		{"pixel data short", spoil(dcmguardtest.ImplicitVRLittleEndian, func(im *dcmguardtest.Image) { im.PixelBytes = 100 }),
			dimse.StatusDataSetMismatch, "pixel data is 100 bytes; its attributes need 512"},
		{"path as Study UID", spoil(dcmguardtest.ExplicitVRLittleEndian, func(im *dcmguardtest.Image) { im.StudyInstanceUID = "../../../etc" }),
			dimse.StatusDataSetMismatch, "Study Instance UID has a non-digit character (PS3.5 9.1)"},
		{"NaN orientation", spoil(dcmguardtest.ExplicitVRLittleEndian, func(im *dcmguardtest.Image) { im.ImageOrientationPatient = `1\0\0\0\NaN\0` }),
			dimse.StatusDataSetMismatch, "ImageOrientationPatient holds a value that is not finite"},
		{"BitsAllocated 0", spoil(dcmguardtest.DeflatedExplicitVRLittleEndian, func(im *dcmguardtest.Image) { im.BitsAllocated = 0 }),
			dimse.StatusDataSetMismatch, "BitsAllocated 0: 8, 16 or 32 expected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := a.StoreBytes(ctx, tc.file)
			var se *dimse.StatusError
			if !errors.As(err, &se) || se.Status != tc.status || !strings.Contains(se.Comment, tc.comment) {
				t.Fatalf("StoreBytes (%d bytes) = %v, want status %04X with %q", len(tc.file), err, tc.status, tc.comment)
			}
		})
	}
	if err := a.Echo(ctx); err != nil {
		t.Fatalf("C-ECHO after the refusals: %v", err)
	}
	if err := a.StoreBytes(ctx, spoil(dcmguardtest.ExplicitVRLittleEndian, func(*dcmguardtest.Image) {})); err != nil {
		t.Fatalf("valid image: %v", err)
	}
	n := 0
	store.View(func(tx *cache.Tx) error { return tx.AllInstances(func(cache.Instance) error { n++; return nil }) })
	if n != 1 {
		t.Fatalf("%d instances recorded, want the valid one only", n)
	}
}
