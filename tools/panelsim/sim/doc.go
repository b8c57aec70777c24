// Package sim is a front-panel MCU simulator. It plays the panel's end of the
// protocol in firmware/panel on a pseudo-terminal, so the appliance's Link can
// be tested (and the daemon run on the sim board) with no hardware: it shows
// the lights the host asks for, presses buttons, and injects the faults a real
// link has — garbage bytes, dropped frames and ACKs, an unplugged cable.
//
// tools/panelsim is a thin main over this package; tests use Sim directly.
package sim
