// Package host checks a board file against the machine it runs on and opens
// the board's drivers.
//
// Check runs at daemon start (and from `metsentryd --check --probe`): every
// device the board file names must be there and be what the file says — the
// serial ports and watchdog character devices, each thermal zone with the
// type (name) the file gives it, the LED lines on their GPIO chip or under
// /sys/class/leds. A wrong board file is found before anything is opened, with
// a message that says what to fix.
//
// Open builds the drivers the board chooses (hal/watchdog, hal/thermal,
// hal/led). Optional hardware that fails to open is logged and left out, as
// gokrazy does: the appliance keeps working, and the fault is visible.
package host
