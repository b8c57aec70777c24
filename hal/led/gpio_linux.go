//go:build linux

package led

import (
	"fmt"
	"sync"

	"github.com/warthog618/go-gpiocdev"
)

// gpioLine is the part of *gpiocdev.Line the driver uses.
type gpioLine interface {
	SetValue(int) error
	Close() error
}

// requestLine finds a line by name on a chip and requests it as an output,
// initially low. Tests swap it.
var requestLine = func(chip, name string) (gpioLine, error) {
	c, err := gpiocdev.NewChip(chip, gpiocdev.WithConsumer("metsentry"))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	off, err := c.FindLine(name)
	if err != nil {
		return nil, fmt.Errorf("no line named %q on %s: %w", name, chip, err)
	}
	return c.RequestLine(off, gpiocdev.AsOutput(0), gpiocdev.WithConsumer("metsentry"))
}

// gpioLED is a light on a GPIO line, active high.
type gpioLED struct {
	name string
	line gpioLine
	mu   sync.Mutex
	halt bool
}

var _ LED = (*gpioLED)(nil)

// NewGPIO requests the line named name (e.g. "PQ.05") on chip (e.g.
// "gpiochip0") through the GPIO character device and turns it off.
func NewGPIO(chip, name string) (LED, error) {
	l, err := requestLine(chip, name)
	if err != nil {
		return nil, fmt.Errorf("led: request GPIO line %s on %s: %w", name, chip, err)
	}
	return &gpioLED{name: chip + "/" + name, line: l}, nil
}

func (g *gpioLED) Set(on bool) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.halt {
		return fmt.Errorf("led: %s is halted", g.name)
	}
	v := 0
	if on {
		v = 1
	}
	if err := g.line.SetValue(v); err != nil {
		return fmt.Errorf("led: set %s: %w", g.name, err)
	}
	return nil
}

func (g *gpioLED) String() string { return "gpio " + g.name }

func (g *gpioLED) Halt() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.halt {
		return nil
	}
	g.halt = true
	err := g.line.SetValue(0)
	if cerr := g.line.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("led: halt %s: %w", g.name, err)
	}
	return nil
}
