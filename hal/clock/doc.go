// Package clock is the injected clock used by everything that waits: serial
// retries, panel heartbeats, LED blinking, the watchdog keeper and the thermal
// monitor. Production code takes a Clock and is given System(); tests give it
// a clocktest.Clock and move time by hand, so no test sleeps to wait for a
// timer.
package clock
