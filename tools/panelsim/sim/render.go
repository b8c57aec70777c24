package sim

import (
	"fmt"
	"strings"

	"metsentry/firmware/panel"
	"metsentry/hal/led"
)

// Render draws the panel as one terminal line at blink step phase (see
// led.Quantum): three lights, the display line, and the link state. With
// color it uses ANSI colours; without, lit lights are capital letters.
func Render(s Shown, phase int, color bool) string {
	var b strings.Builder
	p := panel.Lights(s.State.Show)
	if s.HostLost {
		p = panel.Lights(panel.Fault)
	}
	if !s.Plugged {
		p = led.Pattern{}
	}
	for i, name := range []string{"R", "A", "G"} {
		lit := p[i].Lit(phase)
		switch {
		case color && lit:
			code := [...]string{"31", "33", "32"}[i]
			fmt.Fprintf(&b, "\x1b[1;%sm(%s)\x1b[0m ", code, name)
		case color:
			fmt.Fprintf(&b, "\x1b[2m(%s)\x1b[0m ", strings.ToLower(name))
		case lit:
			fmt.Fprintf(&b, "(%s) ", name)
		default:
			fmt.Fprintf(&b, "(%s) ", strings.ToLower(name))
		}
	}
	switch {
	case !s.Plugged:
		b.WriteString(" [unplugged]")
	case s.HostLost:
		// What a real panel shows when the host is silent: its own fault.
		fmt.Fprintf(&b, " %-32s", fmt.Sprintf("NO HOST E%04X", panel.FaultPanelLink))
	default:
		text := s.Text
		if text == "" {
			text = s.State.Show.String()
			if s.State.Show == panel.Positive {
				text += fmt.Sprintf(" %d", s.State.Count)
			}
			if s.State.Show == panel.Fault {
				text += fmt.Sprintf(" E%04X", s.State.Code)
			}
		}
		fmt.Fprintf(&b, " %-32s", text)
	}
	return b.String()
}
