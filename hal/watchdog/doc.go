// Package watchdog is the hardware watchdog: if the appliance hangs, the
// watchdog resets it.
//
// Watchdog is the device (Pet it before its timeout; Halt disarms it with the
// kernel's "magic close"). Keeper pets it only while the main loop proves it
// is alive by calling Alive: a stalled loop stops the petting and the board
// resets. The Linux driver (Open) uses /dev/watchdog; watchdogtest has a fake.
package watchdog
