//go:build linux

package serial

import (
	"errors"
	"fmt"
	"sync"

	bugst "go.bug.st/serial"
)

// Open opens a serial device in raw 8N1 mode at baud. It fails when the device
// does not exist, is in use (ports are opened exclusively), or is not a tty.
func Open(device string, baud int) (Port, error) {
	p, err := bugstOpen(device, &bugst.Mode{BaudRate: baud, DataBits: 8, Parity: bugst.NoParity, StopBits: bugst.OneStopBit})
	if err != nil {
		return nil, fmt.Errorf("serial: open %s at %d baud: %w", device, baud, err)
	}
	return &linuxPort{p: p, name: fmt.Sprintf("%s@%d", device, baud)}, nil
}

// bugstOpen is swapped by tests.
var bugstOpen = bugst.Open

type linuxPort struct {
	p    bugst.Port
	name string
	once sync.Once
	err  error
}

var _ Port = (*linuxPort)(nil)
var _ Opener = Open

func (l *linuxPort) Read(b []byte) (int, error) {
	n, err := l.p.Read(b)
	if err != nil {
		var pe *bugst.PortError
		if errors.As(err, &pe) && pe.Code() == bugst.PortClosed {
			return n, ErrClosed
		}
		return n, fmt.Errorf("serial: read %s: %w", l.name, err)
	}
	if n == 0 && len(b) > 0 {
		// go.bug.st/serial returns 0, nil on a read timeout; without a timeout
		// set, 0 bytes means the other end hung up.
		return 0, fmt.Errorf("serial: read %s: device hung up", l.name)
	}
	return n, nil
}

func (l *linuxPort) Write(b []byte) (int, error) {
	n, err := l.p.Write(b)
	if err != nil {
		return n, fmt.Errorf("serial: write %s: %w", l.name, err)
	}
	return n, nil
}

func (l *linuxPort) Close() error {
	l.once.Do(func() { l.err = l.p.Close() })
	return l.err
}

func (l *linuxPort) Halt() error    { return l.Close() }
func (l *linuxPort) String() string { return l.name }
