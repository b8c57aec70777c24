// Package daemon wires metsentry's services together and runs them until the
// context ends: it is everything `metsentryd` does after flags and files are read.
//
// The data flow is in ../shared/DESIGN.md: DIMSE SCP → cache → intake →
// volume → runtime → detect → report → outbox, with the panel showing health
// throughout. Intake (intake.go) opens the cache, serves the SCP into it and
// decides completeness and selection, told by the SCP how each association
// ended and of each MPPS step the console completes (mpps.go; steps are
// recorded in the cache, so they outlive a restart); when a model is given, the pipeline
// (pipeline.go) runs each ready job through firmware/analyze and delivers
// its results with firmware/outbox, whose queue is kept in the cache
// (deliveries), every job step recorded before the next starts. Control
// (control.go, diag.go) serves the local control socket tools/metctl talks
// to (firmware/control): status, C-ECHO, replay, the diagnostics bundle,
// the self-test and bundle installs; ConsoleService (console.go) serves the
// field engineer's service console (firmware/panel/console) on the board's
// serial.console port from the same answers, reopening a missing port every
// 30 s without troubling the rest; Metrics (metrics.go), fed by the
// pipeline's job events and the cache, is the Prometheus status endpoint.
// Both read the open cache the intake service shares with them. Each stage is
// a package with a small interface; the daemon owns their lifecycle (start
// order, graceful stop) and turns their health and results into the
// panel state. Optional hardware that fails to start is logged and shown as a
// fault, never fatal. So are the faults the box can wait out while it keeps
// answering C-ECHO and keeping what it receives (faults.go, standby.go): an
// inference runtime or model that fails to start (FaultRuntime, FaultModel;
// ready jobs wait in the cache), a cache another process holds (FaultStorage;
// C-STORE refused with A700 until the lock is released), and a destination
// that cannot be reached (FaultNetwork; results wait in the outbox).
package daemon
