// Command panelsim simulates the front-panel MCU on a pseudo-terminal so the
// appliance can run with no hardware (board "sim"). It prints the pty's path,
// keeps a symlink to it (default /run/metsentry-sim/panel, as boards/sim.yaml
// names), draws the lights in the terminal, and injects faults.
//
//	go run ./tools/panelsim [-link PATH] [-display] [-garbage-every D] [-drop-acks-every D] [-unplug-every D]
//	                        [-console PATH -console-term PATH]
//
// With -console it also makes the sim board's service-console cable: the
// daemon opens PATH (boards/sim.yaml's serial.console.device) and an engineer
// runs e.g. `screen /run/metsentry-sim/console-term 115200` on the other end.
//
// Type a command and Enter while it runs:
//
//	a  press acknowledge       s  press self-test
//	g  send 64 garbage bytes   d  drop the next 3 ACKs
//	x  miss the next 3 frames  u  unplug (again: plug)
//	q  quit
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"metsentry/firmware/panel"
	"metsentry/hal/led"
	"metsentry/tools/panelsim/sim"
)

func main() {
	link := flag.String("link", "/run/metsentry-sim/panel", "symlink kept pointing at the pty (empty: none)")
	display := flag.Bool("display", true, "simulate a panel with a text display")
	garbage := flag.Duration("garbage-every", 0, "inject 64 random bytes this often (0: never)")
	dropAcks := flag.Duration("drop-acks-every", 0, "drop the next 3 ACKs this often (0: never)")
	unplug := flag.Duration("unplug-every", 0, "unplug for 1 s this often (0: never)")
	color := flag.Bool("color", true, "draw with ANSI colours")
	console := flag.String("console", "", "also make a service-console cable: the daemon's end (e.g. /run/metsentry-sim/console)")
	consoleTerm := flag.String("console-term", "/run/metsentry-sim/console-term", "the engineer's end of the console cable")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, *link, *display, *garbage, *dropAcks, *unplug, *color, *console, *consoleTerm)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "panelsim:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, link string, display bool, garbage, dropAcks, unplug time.Duration, color bool, console, consoleTerm string) error {
	if console != "" {
		b, err := sim.NewBridge(console, consoleTerm)
		if err != nil {
			return err
		}
		defer b.Close()
		fmt.Printf("service console cable: daemon end %s, terminal end %s\n", console, consoleTerm)
	}
	s := sim.New(sim.Config{Link: link, Display: display})
	path, err := s.Plug()
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Printf("panel MCU simulator on %s", path)
	if link != "" {
		fmt.Printf(" (linked from %s)", link)
	}
	fmt.Println("\ncommands: a=ack s=selftest g=garbage d=drop acks x=miss frames u=unplug/plug q=quit")
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = s.Run(ctx) }()

	cmds := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			cmds <- strings.TrimSpace(sc.Text())
		}
		close(cmds)
	}()
	every := func(d time.Duration) <-chan time.Time {
		if d <= 0 {
			return nil
		}
		return time.Tick(d)
	}
	gT, dT, uT := every(garbage), every(dropAcks), every(unplug)
	draw := time.NewTicker(led.Quantum)
	defer draw.Stop()
	phase := 0
	for {
		select {
		case <-ctx.Done():
			fmt.Println()
			return nil
		case <-draw.C:
			phase++
			st := s.Stats()
			fmt.Printf("\r%s  in %d out %d bad %d retries %d ", sim.Render(s.Shown(), phase, color), st.FramesIn, st.FramesOut, st.BadFrames, st.Retries)
		case <-gT:
			s.InjectRandomGarbage(64)
		case <-dT:
			s.DropAcks(3)
		case <-uT:
			s.Unplug()
			time.AfterFunc(time.Second, func() { _, _ = s.Plug() })
		case c, ok := <-cmds:
			if !ok {
				cmds = nil
				continue
			}
			switch c {
			case "a":
				s.Press(panel.ButtonAck, false)
			case "s":
				s.Press(panel.ButtonSelfTest, false)
			case "g":
				s.InjectRandomGarbage(64)
			case "d":
				s.DropAcks(3)
			case "x":
				s.DropIncoming(3)
			case "u":
				if s.Path() == "" {
					if _, err := s.Plug(); err != nil {
						fmt.Println("\nplug:", err)
					}
				} else {
					s.Unplug()
				}
			case "q":
				fmt.Println()
				return nil
			case "":
			default:
				fmt.Printf("\nunknown command %q (a s g d x u q)\n", c)
			}
		}
	}
}
