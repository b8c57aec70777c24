package console

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"metsentry/hal/thermal"
)

// Status is what `status` shows. The daemon fills it from its services.
type Status struct {
	State         string        // e.g. "idle", "processing"
	Panel         string        // what the front panel shows, e.g. "positive (3)"
	Faults        []string      // active faults, e.g. "E0501 thermal critical"
	Uptime        time.Duration // since the daemon started
	Received      int           // studies received since start
	Processed     int           // studies analysed
	Positive      int
	Negative      int
	Failed        int
	OutboxPending int  // result objects waiting for delivery
	Throttled     bool // inference slowed for heat
	PanelLink     string
}

// Version is what `version` shows.
type Version struct {
	Firmware string // release, e.g. 1.4.0
	Commit   string
	Built    string
	Board    string
	Model    string // model name and version
	ModelSHA string // sha256 of the model file
	Runtime  string // e.g. onnxruntime 1.24.1 (tensorrt, cuda, cpu)
}

// Interface is one network interface for `net`.
type Interface struct {
	Name  string
	MAC   string
	Up    bool
	Addrs []string
}

// Destination is one configured DICOM peer for `ae` and `echo`.
type Destination struct {
	Name string // the site's name for it, e.g. pacs
	AE   string
	Host string
	Port int
}

// AE is the appliance's own DICOM identity and its peers.
type AE struct {
	LocalAE      string
	Port         int
	Destinations []Destination
}

// Check is one self-test step; Err nil means it passed.
type Check struct {
	Name string
	Err  error
}

// Disk is one file system for `disk`.
type Disk struct {
	Path       string
	TotalBytes uint64
	FreeBytes  uint64
}

// Config gives the console its facts. A nil function makes its command say
// that it is not available on this appliance.
type Config struct {
	Status   func() Status
	Version  func() Version
	Net      func() ([]Interface, error)
	AE       func() AE
	Echo     func(ctx context.Context, dest string) (time.Duration, error) // C-ECHO to a configured destination
	SelfTest func(ctx context.Context) []Check
	Log      *Ring
	Temp     func() thermal.Reading
	Disk     func() ([]Disk, error)
	// Reboot arranges a restart and returns (a refusal is an error that
	// says why); the console answers "rebooting" after it returns.
	Reboot func() error
	// EchoTimeout bounds `echo` and `selftest`; 0 means 10 s.
	EchoTimeout time.Duration
}

// Console runs commands. It is safe for concurrent use if the Config's
// functions are.
type Console struct {
	cfg  Config
	cmds map[string]command
}

type command struct {
	usage string
	help  string
	run   func(ctx context.Context, w io.Writer, args []string) error
}

// Prompt is printed before each command line.
const Prompt = "metsentry> "

// MaxLine is the longest command line accepted.
const MaxLine = 256

// New returns a console.
func New(cfg Config) *Console {
	if cfg.EchoTimeout <= 0 {
		cfg.EchoTimeout = 10 * time.Second
	}
	c := &Console{cfg: cfg}
	c.cmds = map[string]command{
		"help":     {"help", "list the commands", c.help},
		"status":   {"status", "state, faults, study counts, queue", c.status},
		"version":  {"version", "firmware, board, model and runtime versions", c.version},
		"net":      {"net", "network interfaces and addresses", c.net},
		"ae":       {"ae", "this appliance's AE title and the configured DICOM peers", c.ae},
		"echo":     {"echo <dest>", "C-ECHO a configured peer (see ae)", c.echo},
		"selftest": {"selftest", "run the self-test", c.selftest},
		"log":      {"log [n]", "the last n log lines (default 20); no patient data", c.log},
		"temp":     {"temp", "thermal zones and limits", c.temp},
		"disk":     {"disk", "disk space", c.disk},
		"reboot":   {"reboot [confirm]", "restart the appliance", c.reboot},
	}
	return c
}

// ErrUsage is wrapped by Exec when a command line is wrong.
var ErrUsage = errors.New("console: bad command")

// Exec runs one command line, writing its output to w. An unknown command or
// bad arguments give an error that says what to type instead; it is also
// written to w.
func (c *Console) Exec(ctx context.Context, line string, w io.Writer) error {
	f := strings.Fields(line)
	if len(f) == 0 {
		return nil
	}
	name := strings.ToLower(f[0])
	cmd, ok := c.cmds[name]
	if !ok {
		err := fmt.Errorf("%w: unknown command %q (type help for the list)", ErrUsage, printable(f[0]))
		fmt.Fprintln(w, "error:", strings.TrimPrefix(err.Error(), "console: "))
		return err
	}
	err := cmd.run(ctx, w, f[1:])
	if err != nil {
		fmt.Fprintln(w, "error:", strings.TrimPrefix(err.Error(), "console: "))
	}
	return err
}

// printable keeps what an engineer typed readable in an error and short.
func printable(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 32 {
			b.WriteString("...")
			break
		}
		if r < 0x20 || r > 0x7E {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Serve runs the console on a serial line until ctx is done or the line
// fails: it prints a prompt, echoes what is typed (a serial terminal shows
// only what the far end sends back), handles backspace, and runs each line.
func (c *Console) Serve(ctx context.Context, rw io.ReadWriter) error {
	w := bufio.NewWriter(rw)
	fmt.Fprint(w, "\r\nmetsentry service console; type help\r\n"+Prompt)
	w.Flush()
	buf := make([]byte, 64)
	var line []byte
	lastCR := false
	for {
		n, err := rw.Read(buf)
		for _, b := range buf[:n] {
			switch {
			case b == '\n' && lastCR:
				lastCR = false // CR LF counts once
			case b == '\r' || b == '\n':
				lastCR = b == '\r'
				fmt.Fprint(w, "\r\n")
				var out strings.Builder
				_ = c.Exec(ctx, string(line), &out)
				fmt.Fprint(w, strings.ReplaceAll(out.String(), "\n", "\r\n"))
				fmt.Fprint(w, Prompt)
				line = line[:0]
			case b == 0x7F || b == 0x08:
				lastCR = false
				if len(line) > 0 {
					line = line[:len(line)-1]
					fmt.Fprint(w, "\b \b")
				}
			case b == 0x03: // ^C drops the line
				lastCR = false
				line = line[:0]
				fmt.Fprint(w, "^C\r\n"+Prompt)
			case b >= 0x20 && b < 0x7F:
				lastCR = false
				if len(line) < MaxLine {
					line = append(line, b)
					w.WriteByte(b)
				}
			default:
				lastCR = false // other control bytes are ignored
			}
		}
		if ferr := w.Flush(); ferr != nil {
			return fmt.Errorf("console: write: %w", ferr)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("console: read: %w", err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

func noArgs(name string, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: %s takes no arguments (got %q)", ErrUsage, name, printable(strings.Join(args, " ")))
	}
	return nil
}

func unavailable(name string) error {
	return fmt.Errorf("console: %s is not available on this appliance", name)
}

func (c *Console) help(_ context.Context, w io.Writer, args []string) error {
	if err := noArgs("help", args); err != nil {
		return err
	}
	names := make([]string, 0, len(c.cmds))
	for n := range c.cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-18s %s\n", c.cmds[n].usage, c.cmds[n].help)
	}
	return nil
}

func (c *Console) status(_ context.Context, w io.Writer, args []string) error {
	if err := noArgs("status", args); err != nil {
		return err
	}
	if c.cfg.Status == nil {
		return unavailable("status")
	}
	s := c.cfg.Status()
	fmt.Fprintf(w, "state:      %s\n", s.State)
	fmt.Fprintf(w, "panel:      %s\n", s.Panel)
	if s.PanelLink != "" {
		fmt.Fprintf(w, "panel link: %s\n", s.PanelLink)
	}
	if len(s.Faults) == 0 {
		fmt.Fprintf(w, "faults:     none\n")
	} else {
		fmt.Fprintf(w, "faults:     %s\n", strings.Join(s.Faults, "; "))
	}
	fmt.Fprintf(w, "uptime:     %s\n", s.Uptime.Truncate(time.Second))
	fmt.Fprintf(w, "studies:    %d received, %d analysed (%d positive, %d negative), %d failed\n", s.Received, s.Processed, s.Positive, s.Negative, s.Failed)
	fmt.Fprintf(w, "outbox:     %d pending\n", s.OutboxPending)
	if s.Throttled {
		fmt.Fprintf(w, "inference:  throttled (hot)\n")
	}
	return nil
}

func (c *Console) version(_ context.Context, w io.Writer, args []string) error {
	if err := noArgs("version", args); err != nil {
		return err
	}
	if c.cfg.Version == nil {
		return unavailable("version")
	}
	v := c.cfg.Version()
	fmt.Fprintf(w, "firmware: %s (%s, built %s)\n", v.Firmware, v.Commit, v.Built)
	fmt.Fprintf(w, "board:    %s\n", v.Board)
	fmt.Fprintf(w, "model:    %s sha256 %s\n", v.Model, v.ModelSHA)
	fmt.Fprintf(w, "runtime:  %s\n", v.Runtime)
	return nil
}

func (c *Console) net(_ context.Context, w io.Writer, args []string) error {
	if err := noArgs("net", args); err != nil {
		return err
	}
	if c.cfg.Net == nil {
		return unavailable("net")
	}
	ifs, err := c.cfg.Net()
	if err != nil {
		return fmt.Errorf("console: net: %w", err)
	}
	for _, i := range ifs {
		state := "down"
		if i.Up {
			state = "up"
		}
		addrs := "no address"
		if len(i.Addrs) > 0 {
			addrs = strings.Join(i.Addrs, ", ")
		}
		fmt.Fprintf(w, "%-10s %-4s %-17s %s\n", i.Name, state, i.MAC, addrs)
	}
	return nil
}

func (c *Console) ae(_ context.Context, w io.Writer, args []string) error {
	if err := noArgs("ae", args); err != nil {
		return err
	}
	if c.cfg.AE == nil {
		return unavailable("ae")
	}
	a := c.cfg.AE()
	fmt.Fprintf(w, "local: %s on port %d\n", a.LocalAE, a.Port)
	if len(a.Destinations) == 0 {
		fmt.Fprintln(w, "no destinations configured")
	}
	for _, d := range a.Destinations {
		fmt.Fprintf(w, "  %-12s %-16s %s:%d\n", d.Name, d.AE, d.Host, d.Port)
	}
	return nil
}

func (c *Console) echo(ctx context.Context, w io.Writer, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("%w: usage: echo <dest> (a destination name from ae)", ErrUsage)
	}
	if c.cfg.Echo == nil || c.cfg.AE == nil {
		return unavailable("echo")
	}
	dest := args[0]
	var names []string
	found := false
	for _, d := range c.cfg.AE().Destinations {
		names = append(names, d.Name)
		found = found || d.Name == dest
	}
	if !found {
		return fmt.Errorf("%w: no destination named %q (configured: %s)", ErrUsage, printable(dest), strings.Join(names, ", "))
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.EchoTimeout)
	defer cancel()
	rtt, err := c.cfg.Echo(ctx, dest)
	if err != nil {
		return fmt.Errorf("console: echo %s failed: %w", dest, err)
	}
	fmt.Fprintf(w, "echo %s: ok in %s\n", dest, rtt.Round(time.Millisecond))
	return nil
}

func (c *Console) selftest(ctx context.Context, w io.Writer, args []string) error {
	if err := noArgs("selftest", args); err != nil {
		return err
	}
	if c.cfg.SelfTest == nil {
		return unavailable("selftest")
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.EchoTimeout)
	defer cancel()
	failed := 0
	for _, ch := range c.cfg.SelfTest(ctx) {
		if ch.Err != nil {
			failed++
			fmt.Fprintf(w, "FAIL %s: %v\n", ch.Name, ch.Err)
		} else {
			fmt.Fprintf(w, "ok   %s\n", ch.Name)
		}
	}
	if failed > 0 {
		return fmt.Errorf("console: self-test: %d check(s) failed", failed)
	}
	fmt.Fprintln(w, "self-test passed")
	return nil
}

func (c *Console) log(_ context.Context, w io.Writer, args []string) error {
	n := 20
	if len(args) > 1 {
		return fmt.Errorf("%w: usage: log [n]", ErrUsage)
	}
	if len(args) == 1 {
		v, err := strconv.Atoi(args[0])
		if err != nil || v < 1 || v > 1000 {
			return fmt.Errorf("%w: log %q: n must be a number from 1 to 1000", ErrUsage, printable(args[0]))
		}
		n = v
	}
	if c.cfg.Log == nil {
		return unavailable("log")
	}
	lines := c.cfg.Log.Last(n)
	if len(lines) == 0 {
		fmt.Fprintln(w, "log is empty")
	}
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	return nil
}

func (c *Console) temp(_ context.Context, w io.Writer, args []string) error {
	if err := noArgs("temp", args); err != nil {
		return err
	}
	if c.cfg.Temp == nil {
		return unavailable("temp")
	}
	r := c.cfg.Temp()
	if len(r.Zones) == 0 {
		fmt.Fprintln(w, "no thermal zones on this board")
		return nil
	}
	for _, z := range r.Zones {
		if z.Err != nil {
			fmt.Fprintf(w, "%-14s error: %v\n", z.Name, z.Err)
			continue
		}
		fmt.Fprintf(w, "%-14s %5.1f °C\n", z.Name, z.C)
	}
	fmt.Fprintf(w, "level: %s\n", r.Level)
	return nil
}

func (c *Console) disk(_ context.Context, w io.Writer, args []string) error {
	if err := noArgs("disk", args); err != nil {
		return err
	}
	if c.cfg.Disk == nil {
		return unavailable("disk")
	}
	ds, err := c.cfg.Disk()
	if err != nil {
		return fmt.Errorf("console: disk: %w", err)
	}
	for _, d := range ds {
		pct := 0.0
		if d.TotalBytes > 0 {
			pct = 100 * float64(d.TotalBytes-d.FreeBytes) / float64(d.TotalBytes)
		}
		fmt.Fprintf(w, "%-24s %8s free of %8s (%.0f%% used)\n", d.Path, human(d.FreeBytes), human(d.TotalBytes), pct)
	}
	return nil
}

func human(b uint64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(b)/float64(div), "KMGTPE"[exp])
}

func (c *Console) reboot(_ context.Context, w io.Writer, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(w, "this restarts the appliance; studies in progress resume after the restart")
		fmt.Fprintln(w, "type: reboot confirm")
		return nil
	}
	if len(args) != 1 || args[0] != "confirm" {
		return fmt.Errorf("%w: usage: reboot confirm", ErrUsage)
	}
	if c.cfg.Reboot == nil {
		return unavailable("reboot")
	}
	// Reboot refuses (the board does not allow it) or arranges the
	// restart and returns; Serve writes the answer once Exec returns.
	if err := c.cfg.Reboot(); err != nil {
		return fmt.Errorf("console: reboot: %w", err)
	}
	fmt.Fprintln(w, "rebooting")
	return nil
}
