// Package cache is the appliance's durable memory: a bbolt database beside a
// folder of received DICOM instance files.
//
// It records every instance the DIMSE SCP accepted (file path, SOP class and
// instance, series, study, the header attributes later stages need, size and
// sha256), the state of each series and study, the jobs that carry a study
// through processing (waiting → ready → running → reported → delivered, or
// failed, dead or skipped), outbox entries for result delivery, and an audit
// log of every decision with its reason.
//
// Durability. An instance costs one fdatasync. CreateTemp hands out an
// empty file from a pool whose names a background filler has already made
// durable (one folder sync per eight names); the SCP streams the instance
// into it, hashing the file and its data set as the bytes arrive.
// PutInstance fdatasyncs it, checks and reads its header in one bounded walk
// (dcmguard.Check: structure, UIDs, geometry, pixel data; a refusal wraps
// ErrBadInstance and the *dcmguard.Error the SCP turns into A900 or C000
// with its reason), renames it into one of the 256 instance folders made at
// Open (no folder sync), and queues its record. Records are committed in
// batches, one bbolt transaction for every instance that arrived within
// Options.IndexDelay (the daemon's storage.index_delay, 100 ms), or before
// PutInstance returns when IndexDelay is zero, sharing the commit with
// concurrent callers. The SCP answers Success when PutInstance returns: the
// instance is on disk under a durable name, and recorded or certain to be.
// A crash before its batch commits leaves the file under its final or its
// temporary name (a journaling file system keeps a rename atomic); Open
// finds it there and adopts it, or moves it back to its recorded path, so
// an acknowledged instance is never lost and an unrecorded file never left.
// Empty or partial temporary files (never acknowledged) are removed. An
// instance that replaces a recorded one with other content takes a slower
// path: flush, rename, folder sync, commit, and only then remove the old
// file.
//
// Keys and values are versioned. Keys use an order-preserving tuple encoding
// (keys.go) whose first byte is the key-format version; values start with a
// value-format version byte followed by JSON. The database carries a schema
// number in its meta bucket; Open migrates an older schema in one transaction
// (migrate.go) and refuses a newer one rather than guess.
//
// Open uses a lock timeout: a database held by another process is ErrLocked,
// a file that is not a valid bbolt database is ErrCorrupt. Neither ever
// becomes a silent new, empty database.
//
// Reads go through View and writes through Update, each handing a typed Tx;
// the intake package decides completeness and readiness inside one Update so
// each decision is recorded exactly once.
package cache
