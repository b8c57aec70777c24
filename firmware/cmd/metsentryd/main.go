// Command metsentryd is the metsentry appliance daemon. It reads the board file
// and the site file, then hands over to daemon.Run until SIGTERM or SIGINT.
//
//	metsentryd --board sim --site /etc/metsentry/site.yaml --model models/metnet/metnet-fp32.manifest.json --trust models/trust
//	metsentryd --check --board boards/jetson-orin-nano.yaml [--site site.yaml] [--probe]
//	metsentryd --selftest --board sim --model models/metnet/metnet-int8.manifest.json --trust models/trust
//
// --board takes a built-in board name (see boards/) or a file path. --model
// (repeatable: preferred first) names signed model manifests and --trust the
// folder of public keys they must be signed with; without --model the daemon
// receives and selects studies but analyses none. --selftest runs the
// built-in phantom study through the models (firmware/selftest) and exits 0
// when it passes, 1 when it fails.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"metsentry/boards"
	"metsentry/firmware/analyze"
	"metsentry/firmware/config"
	"metsentry/firmware/daemon"
	"metsentry/firmware/panel/console"
	"metsentry/firmware/update"
	"metsentry/hal/serial"
	"metsentry/runtime/model"
	"metsentry/runtime/ort"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("metsentryd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	boardArg := fs.String("board", "", "built-in board name ("+fmt.Sprint(boards.Names())+") or board file path")
	sitePath := fs.String("site", "", "site file path")
	check := fs.Bool("check", false, "check the board (and site) files, print every problem, exit 0 or 1")
	selfTest := fs.Bool("selftest", false, "run the built-in self-test (a phantom study through --model on this board), print the report, exit 0 when it passes, 1 when it fails")
	probe := fs.Bool("probe", false, "with --check: also check on this machine that the board's devices exist, its data folder can be written and the site's bind address is local")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	var models stringList
	fs.Var(&models, "model", "signed model manifest (.json); repeat to give fallbacks, preferred first")
	trustDir := fs.String("trust", "models/trust", "folder of trusted public keys (*.pub) the model must be signed with")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *boardArg == "" {
		fmt.Fprintln(stderr, "metsentryd: --board is required (a built-in name or a file path)")
		return 2
	}
	board, boardFile, err := loadBoard(*boardArg)
	var problems config.Problems
	problems = append(problems, config.AsProblems(err)...)
	if err != nil && len(config.AsProblems(err)) == 0 {
		problems = append(problems, config.Problem{File: boardFile, Msg: err.Error()})
	}
	var site *config.Site
	if *sitePath != "" {
		site, err = config.LoadSite(*sitePath)
		problems = append(problems, config.AsProblems(err)...)
	} else if !*check && !*selfTest {
		problems = append(problems, config.Problem{File: "metsentryd", Msg: "--site is required to run (the site file with AE title, peers and destinations)"})
	}
	if *check && *probe && board != nil && len(problems) == 0 {
		problems = append(problems, config.ProbeBoard(boardFile, board)...)
		if site != nil {
			problems = append(problems, config.ProbeSite(*sitePath, site)...)
		}
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, p.String())
		}
		return 1
	}
	if *check {
		what := boardFile
		if *sitePath != "" {
			what += " and " + *sitePath
		}
		fmt.Fprintf(stdout, "metsentryd: %s: ok\n", what)
		return 0
	}

	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(stderr, "metsentryd: --log-level %q is not a level (use debug, info, warn or error)\n", *level)
		return 2
	}
	if *selfTest {
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
		return runSelfTest(ctx, board, models, *trustDir, stdout, log) // selftest.go
	}
	// A passed metctl model install under systemd stops the daemon with
	// update.ExitRestart, and the unit starts it again from the new slot.
	ctx, stopForRestart := context.WithCancel(ctx)
	defer stopForRestart()
	var restart atomic.Bool
	// The service console's reboot restarts the daemon the same way.
	var restartWhy atomic.Pointer[string]
	var restartAfterInstall, restartForConsole func()
	if os.Getenv("NOTIFY_SOCKET") != "" {
		restartFor := func(why string) func() {
			return func() { restartWhy.Store(&why); restart.Store(true); stopForRestart() }
		}
		restartAfterInstall = restartFor("into the slot just installed")
		restartForConsole = restartFor("as the service console's reboot asked")
	}
	ring := daemon.NewLogRing(logRingLines)    // recent lines for metctl diag
	cring := console.NewRing(consoleRingLines) // recent lines, redacted, for the service console's log
	log := slog.New(slog.NewMultiHandler(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}), ring.Handler(lvl), cring.Handler(lvl)))
	// slots.go: undo an interrupted install, and run the current slot's
	// binary and models when metctl model install put one there.
	models = startSlot(ctx, board, fs, models, log)
	setMemoryLimit(board, log)
	faults := newFaultBoard()                     // status.go: faults for the panel and systemd's STATUS=
	defer notifySystemd(ctx, site, log, faults)() // systemd.go: READY=1, watchdog pings
	svc := daemon.NewIntake(site, board, log)
	svc.Panel = faults
	ctl, ctlServices := controlServices(controlArgs{board: board, boardArg: *boardArg, boardFile: boardFile,
		sitePath: *sitePath, models: models, trustDir: *trustDir, ring: ring, installSelfTestIn: 10 * time.Minute, restart: restartAfterInstall}, svc, log)
	services := append([]daemon.Service{svc}, ctlServices...)
	var pan *daemon.PanelService
	if board.Serial.Panel.Device != "" {
		pan = daemon.NewPanel(ctx, board, serial.Open, log)
		faults.panel = pan.Machine
		services = append(services, pan)
	}
	var runtimeDesc atomic.Pointer[string]
	if board.Serial.Console.Device != "" { // console.go: on the board's console port, for the daemon's whole life
		services = append(services, consoleService(consoleArgs{board: board, ctl: ctl, intake: svc, panel: pan, ring: cring,
			runtime: &runtimeDesc, restart: restartForConsole}, log))
	}
	var md *model.Model
	defer func() {
		if md != nil {
			md.Close()
		}
	}()
	start := func(b *config.Board) (string, error) {
		desc, err := startORT(b)
		if err != nil {
			return "", fmt.Errorf("%w: %w", daemon.ErrRuntime, err)
		}
		runtimeDesc.Store(&desc)
		if len(models) == 0 {
			return desc, nil
		}
		if md, err = openModel(ctx, b, models, *trustDir, log); err != nil {
			return "", err
		}
		svc.Analyzer = &analyze.Analyzer{
			Model:     &analyze.Model{Manifest: md.Manifest(), Engine: md, Plan: md.Plan(int64(b.Inference.MemoryBudgetMB)<<20, model.BytesPerVoxel(md.Manifest()))},
			Equipment: equipment(b),
		}
		return desc + "; " + md.Details(), nil
	}
	err = daemon.Run(ctx, daemon.Options{
		Board: board, BoardFile: boardFile, Site: site, Log: log,
		Inference: start,
		Services:  services,
		Panel:     svc.Panel,
	})
	if err != nil {
		log.Error("metsentryd stopped with an error", "err", err)
		return 1
	}
	if restart.Load() {
		log.Info("metsentryd stopped to restart "+*restartWhy.Load(), "exit", update.ExitRestart)
		return update.ExitRestart
	}
	return 0
}

// loadBoard reads a board file by path, or a built-in board by name.
func loadBoard(arg string) (*config.Board, string, error) {
	if filepath.Ext(arg) == "" && !filepath.IsAbs(arg) {
		if data, file, ok := boards.File(arg); ok {
			b, err := config.ParseBoard(file, data)
			return b, file, err
		}
		return nil, arg, fmt.Errorf("no built-in board %q (have %v; or give a file path)", arg, boards.Names())
	}
	b, err := config.LoadBoard(arg)
	return b, arg, err
}

// startORT loads ONNX Runtime from the board's library path.
func startORT(b *config.Board) (string, error) {
	if err := ort.Init(b.Inference.Library); err != nil {
		return "", err
	}
	return fmt.Sprintf("ONNX Runtime %s, providers %v, %d threads", ort.LibraryVersion(), b.Inference.Providers, b.Inference.Threads), nil
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }
