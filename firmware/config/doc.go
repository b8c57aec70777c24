// Package config reads and checks the two files that describe an installation:
// the board file (what hardware the firmware runs on: serial ports, LED backend,
// watchdog, thermal zones, the ONNX Runtime library and providers, storage and
// resource limits) and the site file (how the hospital uses it: AE title, port,
// allowed peers, result destinations, completeness timers).
//
// The two are kept apart on purpose: a board file ships with the firmware and is
// the same for every box of that kind; a site file is written by the field
// engineer at installation and survives firmware updates.
//
// Decoding is strict: an unknown key is an error, never silently ignored, because a
// misspelt key in a medical appliance's configuration is a setting that did not
// take effect. Every problem found is reported as a Problem carrying the file and
// line, so that `metsentryd --check` prints one line per mistake in the form
// `file:line: what is wrong, what is expected`.
package config
