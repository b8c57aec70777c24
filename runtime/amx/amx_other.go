//go:build !(linux && amd64 && cgo)

package amx

// implemented says this build has the guard (tests use it).
const implemented = false

func block() (State, error) { return StateNotSupported, nil }

// Permitted reports whether this process may use AMX tile data now; never on
// this platform.
func Permitted() (bool, error) { return false, nil }

// Request asks the kernel for AMX tile data; a no-op on this platform.
func Request() error { return nil }
