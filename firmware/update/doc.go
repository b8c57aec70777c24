// Package update installs signed update bundles (firmware/bundle) into A/B
// slots, the gokrazy way: the new release goes into the slot not in use, the
// appliance switches to it, tests it, and switches back when the test fails.
//
// An install root (e.g. /var/lib/metsentry/slots) holds:
//
//	a/, b/        the two slots: bundle.json, bin/metsentryd, models/...
//	current  -> a the slot the appliance runs (a symlink, switched by rename)
//	previous -> b the slot to go back to
//	trial         while a switched-to slot is under its self-test: its name
//
// Slots.Install:
//
//  1. verifies the bundle (bundle.Open: trusted key, signature, every byte);
//     a bundle that fails is refused (ErrRefused) before any slot is touched;
//  2. unpacks it into a staging folder, re-checking every digest, then
//     renames it over the slot not in use;
//  3. writes trial, points previous at the slot in use and current at the
//     new one (each link replaced atomically, the root synced);
//  4. runs the self-test on the new slot: ExecSelfTest runs the slot's own
//     binary with --selftest (firmware/cmd/metsentryd), which opens the
//     slot's models as the daemon does and runs firmware/selftest's phantom;
//  5. passed: clears trial. Failed: marks the slot FAILED with the reason,
//     points current back at the slot it left and returns ErrRolledBack
//     with the self-test's verdict.
//
// Recover, called at start, rolls back an install a power cut interrupted
// between steps 3 and 5. Rollback switches back by request (never to a slot
// marked FAILED). Status reports both slots and their versions.
//
// The package is pure Go: the self-test is a function (SelfTest), so tests
// inject their own, and the daemon's runs another process.
package update
