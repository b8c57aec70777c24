// Package panel is the appliance's front panel: the serial protocol to the
// panel microcontroller, the link that keeps it running, and the state
// machine that decides what the panel shows.
//
// The pieces, from the wire up:
//
//   - frame.go: COBS framing with a CRC-16 (DecodeFrame, Frame.AppendWire,
//     Splitter for a byte stream).
//   - message.go: the messages (Hello, Heartbeat, Ack, State, Text, Button).
//   - session.go: Session, one end's protocol logic — sequence numbers, ACK
//     and retry, heartbeats, peer timeout — with no I/O and no clock, so it is
//     tested deterministically and shared by the host and tools/panelsim.
//   - link.go: Link, the host end over a hal/serial port; it reopens the
//     port when the MCU is unplugged and plugged back and resends the state.
//   - machine.go: Machine, driven by daemon events (Receiving, Processing,
//     Result, SetFault) and the panel's buttons; it shows a View on every
//     Display (a Link, or LEDDisplay for lights on GPIO or sysfs).
//
// PROTOCOL.md specifies the wire protocol for panel firmware writers.
// Subpackage console is the field engineer's serial service console.
package panel
