//go:build linux

package console_test

import (
	"path/filepath"
	"testing"

	"metsentry/firmware/panel/console"
)

func TestSystemProviders(t *testing.T) {
	ifs, err := console.SystemNet()
	if err != nil || len(ifs) == 0 {
		t.Fatalf("SystemNet = %v, %v; want at least the loopback", ifs, err)
	}
	ds, err := console.DiskUsage(t.TempDir())()
	if err != nil || len(ds) != 1 || ds[0].TotalBytes == 0 || ds[0].FreeBytes > ds[0].TotalBytes {
		t.Fatalf("DiskUsage = %+v, %v", ds, err)
	}
	if _, err := console.DiskUsage(filepath.Join(t.TempDir(), "missing"))(); err == nil {
		t.Error("DiskUsage of a missing path succeeded")
	}
}
