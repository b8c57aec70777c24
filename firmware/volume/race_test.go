//go:build race

package volume

// raceEnabled lets the slowest test (writing and assembling a 176-file
// series) skip under the race detector; the normal run keeps it.
const raceEnabled = true
