package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
)

// probeDataDir checks that the board's data folder exists or can be created,
// and that a file can be written in it. A folder the probe had to create is
// removed again: --check leaves the machine as it found it.
func probeDataDir(file, dir string) Problems {
	fail := func(err error) Problems {
		return Problems{{File: file, Msg: fmt.Sprintf("storage.data_dir %s cannot hold the cache: %v (create it, writable by the metsentry user, or point data_dir at a folder on the data partition)", dir, unwrapPathErr(err))}}
	}
	created := ""
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || !errors.Is(err, fs.ErrNotExist) || filepath.Dir(d) == d {
			break
		}
		created = d
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fail(err)
	}
	if created != "" {
		defer os.RemoveAll(created)
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fail(err)
	}
	name := f.Name()
	err = f.Close()
	if rmErr := os.Remove(name); err == nil {
		err = rmErr
	}
	if err != nil {
		return fail(err)
	}
	return nil
}

// ProbeSite checks, on the box itself, what a site file asks of this machine:
// that its bind address is one of this machine's, so the SCP can listen there.
// Port conflicts are not probed: the daemon itself may hold the port.
func ProbeSite(file string, s *Site) Problems {
	ln, err := net.Listen("tcp", net.JoinHostPort(s.Bind, "0"))
	if err != nil {
		var msg string
		if oe := (*net.OpError)(nil); errors.As(err, &oe) && oe.Err != nil {
			msg = oe.Err.Error()
		} else {
			msg = err.Error()
		}
		return Problems{{File: file, Msg: fmt.Sprintf("bind %s is not an address this machine can listen on: %s (use 0.0.0.0 for every interface, or one of this machine's addresses)", s.Bind, msg)}}
	}
	ln.Close()
	return nil
}
