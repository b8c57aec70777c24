// Package serial is the hardware layer's view of a serial port: the link to
// the front-panel MCU and the field engineer's service console.
//
// The package holds the Port interface and the Opener that makes ports from a
// device path. The Linux driver (serial_linux.go, over go.bug.st/serial) is
// chosen by main from the board file; tests use serialtest's in-memory pipe or
// a pseudo-terminal from tools/panelsim.
package serial
