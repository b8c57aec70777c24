// Package thermal watches the board's temperature sensors.
//
// Zone is one sensor (a /sys/class/thermal zone on Linux, OpenZone). Monitor
// reads the zones the board file names and compares the hottest with two
// limits: above ThrottleC inference is slowed (Throttled, and the Throttle
// callback), above CriticalC the front panel shows a fault (the Fault
// callback). Both clear only once the temperature is Hysteresis below the
// limit, so a sensor hovering at a limit does not flap. thermaltest has a
// fake zone.
package thermal
