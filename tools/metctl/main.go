// Command metctl is the field engineer's tool for a metsentry box. It talks
// to the running daemon (metsentryd) over its local control socket
// (firmware/control: <data folder>/run/control.sock, mode 0660, reachable by
// root and the metsentry group), never over the network.
//
//	metctl status                  jobs by state, outbox queue, disk, temperature, provider, model
//	metctl echo <destination>      C-ECHO a destination of the site file, from the box
//	metctl send <dir> <destination> C-STORE every DICOM file under dir to a destination (progress bar)
//	metctl replay <study UID|job>  analyse a study again and deliver; its results keep their UIDs, so the PACS replaces them
//	metctl diag [-o file]          a tar.gz of config, versions, recent logs and metrics, with no patient data
//	metctl rules test <dir> [--site file]  dry run of the site's series rules on a folder of DICOM files (no daemon needed)
//	metctl selftest                the built-in phantom study (firmware/selftest) through the daemon's model, opened again from its files
//	metctl model install <bundle>  verify a signed update bundle, install it into the slot not in use, self-test it, roll back on failure
//
// Global flags come before the command: --socket (default
// /var/lib/metsentry/run/control.sock, or $METSENTRY_SOCKET). When the
// daemon is not running, or the socket's permissions keep this user out,
// metctl says so and what to do. Exit status: 0 done, 1 failed, 2 usage.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
