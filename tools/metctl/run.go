package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"metsentry/firmware/control"
)

const usage = `usage: metctl [--socket path] <command> [args]

commands:
  status                         the daemon's state
  echo <destination>             C-ECHO a configured destination from the box
  send <dir> <destination>       C-STORE the DICOM files under dir to a destination
  replay <study UID | job id>    analyse a study again and deliver its results
  diag [-o file]                 write a diagnostics tar.gz (no patient data)
  rules test <dir> [--site file] which series the site's rules would pick from dir
  selftest                       the built-in phantom study through the daemon's model
  model install <bundle>         install a signed update bundle (A/B slot, self-tested)
`

// errUsage marks a command line that is wrong (exit status 2).
var errUsage = errors.New("metctl: usage")

// app is one metctl invocation.
type app struct {
	socket         string
	stdout, stderr io.Writer
	// progress is false to leave progress bars out (tests, --quiet).
	progress bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("metctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	def := os.Getenv("METSENTRY_SOCKET")
	if def == "" {
		def = control.SocketPath(control.DefaultDataDir)
	}
	socket := fs.String("socket", def, "the daemon's control socket")
	quiet := fs.Bool("quiet", false, "no progress bars")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	a := &app{socket: *socket, stdout: stdout, stderr: stderr, progress: !*quiet}
	if fs.NArg() == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	err := a.command(ctx, fs.Arg(0), fs.Args()[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, err)
		fmt.Fprint(stderr, usage)
		return 2
	}
	fmt.Fprintln(stderr, "metctl:", strings.TrimPrefix(err.Error(), "metctl: "))
	return 1
}

func (a *app) command(ctx context.Context, cmd string, args []string) error {
	need := func(n int, what string) error {
		if len(args) != n {
			return fmt.Errorf("%w: %s takes %s", errUsage, cmd, what)
		}
		return nil
	}
	switch cmd {
	case "status":
		if err := need(0, "no arguments"); err != nil {
			return err
		}
		return a.status(ctx)
	case "echo":
		if err := need(1, "a destination name"); err != nil {
			return err
		}
		return a.echo(ctx, args[0])
	case "send":
		if err := need(2, "a folder and a destination name"); err != nil {
			return err
		}
		return a.send(ctx, args[0], args[1])
	case "replay":
		if err := need(1, "a Study Instance UID or a job id"); err != nil {
			return err
		}
		return a.replay(ctx, args[0])
	case "diag":
		fs := flag.NewFlagSet("diag", flag.ContinueOnError)
		fs.SetOutput(a.stderr)
		out := fs.String("o", "", "file to write (default: the bundle's name in the current folder)")
		if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
			return fmt.Errorf("%w: diag takes only -o file", errUsage)
		}
		return a.diag(ctx, *out)
	case "selftest":
		if err := need(0, "no arguments"); err != nil {
			return err
		}
		return a.selftest(ctx)
	case "model":
		if len(args) != 2 || args[0] != "install" {
			return fmt.Errorf("%w: model has one subcommand: model install <bundle>", errUsage)
		}
		return a.install(ctx, args[1])
	case "rules":
		if len(args) == 0 || args[0] != "test" {
			return fmt.Errorf("%w: rules has one subcommand: rules test <dir>", errUsage)
		}
		fs := flag.NewFlagSet("rules test", flag.ContinueOnError)
		fs.SetOutput(a.stderr)
		site := fs.String("site", "/etc/metsentry/site.yaml", "site file whose rules to apply")
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 1 {
			return fmt.Errorf("%w: rules test <dir> [--site file]", errUsage)
		}
		return a.rulesTest(fs.Arg(0), *site)
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
}

// call sends one request to the daemon, showing its progress messages as
// a bar and its text lines on stderr.
func (a *app) call(ctx context.Context, req control.Request, out any) error {
	var bar *progressbar.ProgressBar
	each := func(m control.Message) {
		if m.Text != "" {
			fmt.Fprintln(a.stderr, m.Text)
		}
		if m.Progress != nil && a.progress {
			if bar == nil {
				bar = a.bar(m.Progress.Total, req.Cmd)
			}
			bar.Describe(req.Cmd + " " + m.Progress.What)
			_ = bar.Set64(m.Progress.Done)
		}
	}
	err := control.Call(ctx, a.socket, req, each, out)
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(a.stderr)
	}
	return err
}

// bar is a progress bar on stderr (total -1: a spinner).
func (a *app) bar(total int64, what string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(total, progressbar.OptionSetWriter(a.stderr), progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(), progressbar.OptionSetWidth(30), progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetPredictTime(true))
}

func (a *app) status(ctx context.Context) error {
	var st control.Status
	if err := a.call(ctx, control.Request{Cmd: control.CmdStatus}, &st); err != nil {
		return err
	}
	w := a.stdout
	fmt.Fprintf(w, "metsentry %s on board %s, AE title %s, up since %s\n", st.Version, st.Board, st.AETitle, st.Started.Format(time.RFC3339))
	model, provider := st.Model, st.Provider
	if model == "" {
		model, provider = "none (studies are received but not analysed)", "-"
	}
	fmt.Fprintf(w, "model:       %s\nprovider:    %s\n", model, provider)
	fmt.Fprintf(w, "jobs:        %s\n", counts(st.Jobs, "waiting", "ready", "running", "reported", "delivered", "failed", "dead", "skipped", "superseded"))
	fmt.Fprintf(w, "outbox:      %s\n", counts(st.Outbox, "pending", "delivered", "dead", "superseded"))
	fmt.Fprintf(w, "disk free:   %.1f GiB of %.1f GiB\n", float64(st.DiskFree)/(1<<30), float64(st.DiskTotal)/(1<<30))
	switch {
	case st.TemperatureC != nil:
		fmt.Fprintf(w, "temperature: %.1f °C\n", *st.TemperatureC)
	case st.TemperatureErr != "":
		fmt.Fprintf(w, "temperature: unreadable (%s)\n", st.TemperatureErr)
	default:
		fmt.Fprintf(w, "temperature: no thermal zone on this board\n")
	}
	fmt.Fprintf(w, "destinations: %s\n", strings.Join(st.Destinations, ", "))
	if st.StatusAddr != "" {
		fmt.Fprintf(w, "status endpoint: http://%s/metrics\n", st.StatusAddr)
	}
	for _, f := range st.Faults {
		fmt.Fprintf(w, "FAULT: %s\n", f)
	}
	return nil
}

// counts prints a count per state, the known states first, zeros left out.
func counts(m map[string]int, order ...string) string {
	var parts []string
	seen := map[string]bool{}
	for _, k := range order {
		seen[k] = true
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
		}
	}
	for k, v := range m {
		if !seen[k] && v > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", v, k))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func (a *app) echo(ctx context.Context, dest string) error {
	var e control.Echo
	if err := a.call(ctx, control.Request{Cmd: control.CmdEcho, Args: []string{dest}}, &e); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "C-ECHO %s (%s at %s): success in %d ms\n", e.Destination, e.AETitle, e.Address, e.Elapsed.Milliseconds())
	return nil
}

func (a *app) replay(ctx context.Context, what string) error {
	var r control.Replay
	if err := a.call(ctx, control.Request{Cmd: control.CmdReplay, Args: []string{what}}, &r); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "job %d queued: replay of job %d (study %s); its results replace the earlier ones at each destination\n", r.Job, r.FromJob, r.StudyHash)
	return nil
}

func (a *app) diag(ctx context.Context, out string) error {
	var d control.Diag
	if err := a.call(ctx, control.Request{Cmd: control.CmdDiag}, &d); err != nil {
		return err
	}
	if out == "" {
		out = d.Name
	}
	if err := os.WriteFile(out, d.Data, 0o600); err != nil {
		return fmt.Errorf("metctl: %w", err)
	}
	fmt.Fprintf(a.stdout, "%s: %d bytes (config, versions, status, jobs, recent logs, metrics; no patient data)\n", out, len(d.Data))
	return nil
}

// errFailed is a self-test that ran and failed: its report says why.
var errFailed = errors.New("metctl: the self-test FAILED (see the report above)")

func (a *app) selftest(ctx context.Context) error {
	var r control.Selftest
	if err := a.call(ctx, control.Request{Cmd: control.CmdSelftest}, &r); err != nil {
		return err
	}
	fmt.Fprint(a.stdout, r.Report)
	if !strings.HasSuffix(r.Report, "\n") {
		fmt.Fprintln(a.stdout)
	}
	if !r.Passed {
		return errFailed
	}
	return nil
}

func (a *app) install(ctx context.Context, bundle string) error {
	abs, err := filepath.Abs(bundle)
	if err != nil {
		return fmt.Errorf("metctl: %w", err)
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("metctl: %w", err)
	}
	var r control.Install
	if err := a.call(ctx, control.Request{Cmd: control.CmdModelInstall, Args: []string{abs}}, &r); err != nil {
		return err
	}
	was := "first install"
	if r.Previous != "" {
		was = fmt.Sprintf("was %s in slot %s", r.PreviousVersion, r.Previous)
	}
	fmt.Fprintf(a.stdout, "installed %s in slot %s (%s), signed by %s; self-test passed.\n", r.Version, r.Slot, was, r.KeyID)
	if r.Restart {
		fmt.Fprintf(a.stdout, "metsentryd restarts into %s now (systemd starts slot %s's binary in a few seconds); check with: metctl status\n", r.Version, r.Slot)
	} else {
		fmt.Fprintf(a.stdout, "the daemon still runs the release it started with; restart it to run %s: sudo systemctl restart metsentry\n", r.Version)
	}
	return nil
}
