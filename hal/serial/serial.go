package serial

import (
	"errors"
	"io"
)

// Port is an open serial port. Read blocks until at least one byte arrives or
// the port fails; Close (or Halt) unblocks a pending Read. A Read or Write
// error other than a timeout means the device is gone (a USB adapter
// unplugged, a pty closed): the user closes the port and opens it again.
type Port interface {
	io.ReadWriteCloser
	// String names the port, e.g. /dev/ttyTHS1@115200.
	String() string
	// Halt stops all I/O and leaves the port closed and inert.
	Halt() error
}

// Opener opens a serial device at a baud rate. Open is what production code
// passes; tests pass a function that hands out serialtest ports.
type Opener func(device string, baud int) (Port, error)

// ErrClosed is returned by Read and Write on a port that was closed or halted.
var ErrClosed = errors.New("serial: port is closed")
