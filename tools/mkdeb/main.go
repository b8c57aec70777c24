// Command mkdeb builds the metsentry Debian package for amd64 or arm64 with
// nfpm (github.com/goreleaser/nfpm/v2, as a library). `./build.sh package`
// runs it for both architectures.
//
//	mkdeb -arch amd64 -version 0.1.0 -daemon bin/metsentryd \
//	      -ort .cache/ort/1.24.1/linux-x64/libonnxruntime.so.1 -out dist
//
// What the package holds (paths in deb.go):
//
//	/usr/bin/metsentryd                       the daemon
//	/usr/bin/metctl                           the field engineer's command (with -ctl)
//	/usr/lib/metsentry/libonnxruntime.so.1    ONNX Runtime 1.24.1 (the boards' inference.library)
//	/usr/share/metsentry/models/{metnet,trust} the signed models that verify, with the files
//	                                          their signatures cover, and the trust store
//	/lib/systemd/system/metsentry.service     Type=notify, WatchdogSec, user metsentry (debian/)
//	/lib/udev/rules.d/60-metsentry.rules      /dev/watchdog* to group metsentry
//	/etc/default/metsentry                    conffile: the board (x86-devkit on amd64,
//	                                          jetson-orin-nano on arm64) and extra options
//	/etc/metsentry/site.yaml                  conffile: the example site file
//	/var/lib/metsentry                        the data folder (postinst gives it to metsentry)
//	/usr/share/doc/metsentry/                 README.md, MODEL.md
//
// postinst creates the metsentry system user (adduser --system), adds it to
// dialout, gpio and video where those groups exist, and reloads systemd; it
// does not enable the service, which the field engineer starts once the site
// file is written.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

func main() {
	arch := flag.String("arch", "amd64", "amd64 or arm64")
	version := flag.String("version", "0.0.0", "Debian version of the package")
	maintainer := flag.String("maintainer", "metsentry firmware <firmware@metsentry.invalid>", "Maintainer field")
	root := flag.String("root", ".", "repository root")
	daemon := flag.String("daemon", "", "metsentryd built for -arch")
	ctl := flag.String("ctl", "", "metctl built for -arch (the field engineer's command; empty leaves it out)")
	ort := flag.String("ort", "", "libonnxruntime.so.1 for -arch")
	out := flag.String("out", "dist", "folder for the .deb")
	flag.Parse()
	if *daemon == "" || *ort == "" {
		fmt.Fprintln(os.Stderr, "mkdeb: -daemon and -ort are required")
		os.Exit(2)
	}
	path, n, err := run(Spec{Arch: *arch, Version: *version, Maintainer: *maintainer, Root: *root, Daemon: *daemon, Ctl: *ctl, ORT: *ort}, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	st, err := os.Stat(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%s: %d files, %.1f MB\n", path, n, float64(st.Size())/1e6)
}

// run builds the package into outDir as name_version_arch.deb, through a
// temporary file renamed into place, and returns its path and file count.
// File times come from SOURCE_DATE_EPOCH when set (build.sh sets the
// commit's time), so the same commit gives the same package.
func run(s Spec, outDir string) (string, int, error) {
	if s.MTime.IsZero() {
		s.MTime = time.Now().UTC()
		if e := os.Getenv("SOURCE_DATE_EPOCH"); e != "" {
			sec, err := strconv.ParseInt(e, 10, 64)
			if err != nil {
				return "", 0, fmt.Errorf("mkdeb: SOURCE_DATE_EPOCH %q is not a number of seconds", e)
			}
			s.MTime = time.Unix(sec, 0).UTC()
		}
	}
	work, err := os.MkdirTemp("", "mkdeb")
	if err != nil {
		return "", 0, fmt.Errorf("mkdeb: %w", err)
	}
	defer os.RemoveAll(work)
	s.Work = work
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", 0, fmt.Errorf("mkdeb: %w", err)
	}
	name := fmt.Sprintf("metsentry_%s_%s.deb", s.Version, s.Arch)
	tmp, err := os.CreateTemp(outDir, name+".*")
	if err != nil {
		return "", 0, fmt.Errorf("mkdeb: %w", err)
	}
	defer os.Remove(tmp.Name())
	list, err := Build(s, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", 0, err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return "", 0, fmt.Errorf("mkdeb: %w", err)
	}
	path := filepath.Join(outDir, name)
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", 0, fmt.Errorf("mkdeb: %w", err)
	}
	return path, len(list), nil
}
