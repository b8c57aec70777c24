package cache

import "errors"

var (
	// ErrDiskFull is returned (wrapped) by PutInstance and CreateTemp when the
	// free space on the cache file system is below the low watermark. The SCP
	// answers it with A700 (out of resources) and the panel shows a fault.
	ErrDiskFull = errors.New("cache: free disk space below the low watermark")

	// ErrLocked is returned by Open when another process holds the database
	// and the lock was not released within the open timeout.
	ErrLocked = errors.New("cache: database is locked by another process")

	// ErrCorrupt is returned by Open when the database file exists but is not
	// a valid bbolt database, or its records cannot be decoded.
	ErrCorrupt = errors.New("cache: database file is corrupt")

	// ErrSchemaTooNew is returned by Open when the database was written by a
	// newer firmware whose layout this one does not know.
	ErrSchemaTooNew = errors.New("cache: database schema is newer than this firmware")

	// ErrNotFound is returned when a record asked for by key does not exist.
	ErrNotFound = errors.New("cache: record not found")

	// ErrBadTransition is returned by SetJobState for a state change the job
	// life cycle does not allow (e.g. delivered → running).
	ErrBadTransition = errors.New("cache: job state change not allowed")

	// ErrBadInstance is returned by PutInstance when the file is not a DICOM
	// Part 10 file, breaks the shared parse limits, fails dcmguard.Check
	// (malformed UIDs, non-finite geometry, an unusable Image Pixel module,
	// pixel data that does not match it, a truncated file; the error then
	// also wraps the *dcmguard.Error), lacks an attribute the cache needs
	// (SOP Instance UID, Series Instance UID, Study Instance UID), or
	// disagrees with the identifiers the SCP received.
	ErrBadInstance = errors.New("cache: instance file is not usable")

	// ErrUIDMismatch is wrapped (with ErrBadInstance) by PutInstance when the
	// data set's SOP Class or Instance UID differs from the C-STORE request's.
	ErrUIDMismatch = errors.New("cache: data set UIDs differ from the request")
)
