// Package daemon wires metsentry's services together and runs them until the
// context ends: it is everything `metsentryd` does after flags and files are read.
//
// The data flow is in ../shared/DESIGN.md: DIMSE SCP → cache → intake →
// volume → runtime → detect → report → outbox, with the panel showing health
// throughout. Today the daemon runs the first part (intake.go: the SCP over
// the cache, completeness and series selection); the stages after a job is
// ready are packages of their own, wired in by the end-to-end issue. Each stage is a package with a small interface; the daemon owns
// their lifecycle (start order, graceful stop) and turns their health into the
// panel state. Optional hardware that fails to start is logged and shown as a
// fault, never fatal; a missing inference runtime is fatal, because the box
// cannot do its job without it.
package daemon
