package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"metsentry/firmware/cache"
	"metsentry/firmware/dimse"
	"metsentry/firmware/testenv"
)

func TestMapStoreErr(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   error
		want error
	}{
		{"disk full gives A700", fmt.Errorf("x: %w", cache.ErrDiskFull), dimse.ErrOutOfResources},
		{"UID mismatch gives A900", fmt.Errorf("%w: %w", cache.ErrBadInstance, cache.ErrUIDMismatch), dimse.ErrDataSetMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mapStoreErr(tc.in); !errors.Is(got, tc.want) || !errors.Is(got, tc.in) {
				t.Fatalf("mapStoreErr(%v) = %v; want it to wrap %v and the cause", tc.in, got, tc.want)
			}
		})
	}
	if err := mapStoreErr(cache.ErrBadInstance); errors.Is(err, dimse.ErrOutOfResources) || errors.Is(err, dimse.ErrDataSetMismatch) {
		t.Fatalf("a bad instance mapped to %v; want a plain failure (C000)", err)
	}
}

// TestSCPOverCache stores a real instance through the SCP into the cache,
// then fills the disk below the low watermark: the next store is refused
// with A700 and nothing is recorded.
func TestSCPOverCache(t *testing.T) {
	var free atomic.Uint64
	free.Store(10 << 30)
	store, err := cache.Open(t.TempDir(), cache.Options{MinFreeBytes: 1 << 30,
		FreeSpace: func(string) (uint64, uint64, error) { return free.Load(), 100 << 30, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var woken atomic.Int32
	srv := &dimse.Server{
		Policy:  dimse.Policy{AETitle: "METSENTRY", AllowedPeers: []dimse.Peer{{Prefix: netip.MustParsePrefix("127.0.0.1/32")}}},
		Storage: &cacheStorage{store: store, stored: func() { woken.Add(1) }},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go srv.Serve(ctx, ln)
	defer srv.Shutdown(context.Background())

	dir := testenv.SharedData(t, "dicom", "ge-mprage-ax-oblique")
	a, err := dimse.Dial(ctx, ln.Addr().String(), "CONSOLE", "METSENTRY", dimse.StorageContexts(dimse.MRImageStorage)...)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release(ctx)
	if err := a.StoreFile(ctx, dir+"/i152.MRDC.5"); err != nil {
		t.Fatalf("store with space: %v", err)
	}
	free.Store(512 << 20)
	err = a.StoreFile(ctx, dir+"/i158.MRDC.12")
	var se *dimse.StatusError
	if !errors.As(err, &se) || se.Status != 0xA700 {
		t.Fatalf("store below the watermark: %v; want status A700", err)
	}
	n := 0
	store.View(func(tx *cache.Tx) error {
		return tx.AllInstances(func(in cache.Instance) error {
			n++
			if in.CallingAE != "CONSOLE" || in.CalledAE != "METSENTRY" || in.Remote == "" {
				t.Errorf("record lacks association details: %q %q %q", in.CallingAE, in.CalledAE, in.Remote)
			}
			return nil
		})
	})
	if n != 1 || woken.Load() != 1 {
		t.Fatalf("%d instances recorded, intake woken %d times; want 1 and 1", n, woken.Load())
	}
}
