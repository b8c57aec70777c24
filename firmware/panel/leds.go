package panel

import (
	"metsentry/hal/led"
)

// Lights returns the red, amber and green light pattern for an indication.
// The panel MCU firmware uses the same table (PROTOCOL.md); LEDDisplay and
// tools/panelsim use this function.
func Lights(i Indication) led.Pattern {
	switch i {
	case Receiving:
		return led.Pattern{led.Red: led.Off, led.Amber: led.Slow, led.Green: led.Off}
	case Processing:
		return led.Pattern{led.Red: led.Off, led.Amber: led.On, led.Green: led.Off}
	case Positive:
		return led.Pattern{led.Red: led.On, led.Amber: led.Off, led.Green: led.Off}
	case Negative:
		return led.Pattern{led.Red: led.Off, led.Amber: led.Off, led.Green: led.On}
	case Fault:
		return led.Pattern{led.Red: led.Fast, led.Amber: led.Off, led.Green: led.Off}
	case SelfTest:
		return led.Pattern{led.Red: led.Fast, led.Amber: led.Fast, led.Green: led.Fast}
	case Idle:
		return led.Pattern{led.Red: led.Off, led.Amber: led.Off, led.Green: led.Slow}
	}
	return led.Pattern{}
}

// LEDDisplay shows Views on lights wired to the board (GPIO or sysfs), for
// boards without a panel MCU. It has no display line, so the count and code
// are not shown; the service console's status has them.
type LEDDisplay struct {
	B *led.Blinker
}

var _ Display = LEDDisplay{}

// Show sets the blinker's pattern for v.
func (d LEDDisplay) Show(v View) error { return d.B.SetPattern(Lights(v.Show)) }
