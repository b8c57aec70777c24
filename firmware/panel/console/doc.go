// Package console is the service console a field engineer reaches on the
// appliance's serial console port: a line-oriented prompt with status,
// version, net, ae, echo, selftest, log, temp, disk and reboot commands.
//
// The console takes its facts from small functions in Config that the daemon
// provides (tests give fakes), so this package knows nothing of DICOM or the
// cache. What it prints never holds patient data: the providers return only
// counts, codes, names of configured peers and machine facts, and `log` shows
// the lines of a Ring, an slog.Handler that redacts every patient attribute
// before a line is stored.
package console
