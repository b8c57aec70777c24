//go:build linux

package console

import (
	"fmt"
	"net"
	"syscall"
)

// SystemNet lists the machine's network interfaces; the daemon passes it as
// Config.Net.
func SystemNet() ([]Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var out []Interface
	for _, i := range ifs {
		it := Interface{Name: i.Name, MAC: i.HardwareAddr.String(), Up: i.Flags&net.FlagUp != 0}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			it.Addrs = append(it.Addrs, a.String())
		}
		out = append(out, it)
	}
	return out, nil
}

// DiskUsage returns Config.Disk for the file systems holding paths (the data
// folder, the root).
func DiskUsage(paths ...string) func() ([]Disk, error) {
	return func() ([]Disk, error) {
		var out []Disk
		for _, p := range paths {
			var st syscall.Statfs_t
			if err := syscall.Statfs(p, &st); err != nil {
				return nil, fmt.Errorf("statfs %s: %w", p, err)
			}
			out = append(out, Disk{Path: p, TotalBytes: st.Blocks * uint64(st.Bsize), FreeBytes: st.Bavail * uint64(st.Bsize)})
		}
		return out, nil
	}
}
