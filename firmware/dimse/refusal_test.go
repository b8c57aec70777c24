package dimse

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"metsentry/firmware/cache"
	"metsentry/firmware/dcmguard"
)

// TestStoreRefusalStatus: a Storage error that wraps a *dcmguard.Error
// (however deep, as the cache and the daemon's adapter wrap it) gives the
// status of its kind and its reason as the Error Comment, cut to the 64
// characters of an LO value and without backslashes.
func TestStoreRefusalStatus(t *testing.T) {
	long := strings.Repeat("x", 80)
	for _, tc := range []struct {
		name        string
		err         error
		status      uint16
		comment     string
		wantComment string
	}{
		{"invalid", fmt.Errorf("%w: %w", cache.ErrBadInstance, &dcmguard.Error{Kind: dcmguard.Invalid, Reason: "BitsAllocated 0: 8, 16 or 32 expected"}),
			StatusDataSetMismatch, "", "BitsAllocated 0: 8, 16 or 32 expected"},
		{"malformed", fmt.Errorf("daemon: %w", fmt.Errorf("%w: %w", cache.ErrBadInstance, &dcmguard.Error{Kind: dcmguard.Malformed, Reason: "sequences nested deeper than 16 levels"})),
			StatusCannotUnderstand, "", "sequences nested deeper than 16 levels"},
		{"long reason", &dcmguard.Error{Kind: dcmguard.Invalid, Reason: long}, StatusDataSetMismatch, "", long[:61] + "..."},
		{"backslash", &dcmguard.Error{Kind: dcmguard.Invalid, Reason: `a\b`}, StatusDataSetMismatch, "", "a?b"},
		{"disk full wins", fmt.Errorf("%w: %w", ErrOutOfResources, &dcmguard.Error{Kind: dcmguard.Malformed, Reason: "r"}), StatusOutOfResources, "", "the instance could not be stored"},
		{"other error", errors.New("cache: bbolt: broken"), StatusCannotUnderstand, "", "the instance could not be stored"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, Policy{}, func(dir string) Storage { return failingStorage{DirStorage{dir}, tc.err} })
			ctx := testCtx(t)
			a, err := Dial(ctx, s.Addr, testPeer, testAE, StorageContexts(MRImageStorage)...)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Release(ctx)
			err = a.StoreBytes(ctx, testInstance("1.2.3.1", "1.2.3.1", 100))
			var se *StatusError
			if !errors.As(err, &se) || se.Status != tc.status || se.Comment != tc.wantComment {
				t.Fatalf("StoreBytes = %v, want status %04X comment %q", err, tc.status, tc.wantComment)
			}
		})
	}
}
