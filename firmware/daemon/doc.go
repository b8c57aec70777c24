// Package daemon wires metsentry's services together and runs them until the
// context ends: it is everything `metsentryd` does after flags and files are read.
//
// The data flow is in ../shared/DESIGN.md: DIMSE SCP → cache → intake →
// volume → runtime → detect → report → outbox, with the panel showing health
// throughout. Intake (intake.go) opens the cache, serves the SCP into it and
// decides completeness and selection; when a model is given, the pipeline
// (pipeline.go) runs each ready job through firmware/analyze and delivers
// its results with firmware/outbox, whose queue is kept in the cache
// (deliveries), every job step recorded before the next starts. Each stage is
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
