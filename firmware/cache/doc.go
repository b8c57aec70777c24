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
// Durability. An instance file is written to a temporary file on the same
// file system (CreateTemp), and PutInstance fsyncs it, checks it with
// dcmguard.Check (the shared bounded walk, then UIDs, geometry and pixel
// data; a refusal wraps ErrBadInstance and the *dcmguard.Error the SCP turns
// into A900 or C000 with its reason), parses its header, renames it into
// place, fsyncs the folder and commits the record, all before it returns;
// the SCP answers Success only after that. A crash between rename
// and commit leaves a file with no record: Open finds it and adopts it (when it
// parses as DICOM) or removes it, so nothing is left behind. Temporary files
// left by a crash were never acknowledged and are removed.
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
