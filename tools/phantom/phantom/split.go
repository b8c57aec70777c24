package phantom

import (
	"fmt"
	"hash/fnv"
)

// Version names the generator; it changes whenever the same seed would give
// different images, and every report quotes it.
const Version = "phantom/1.2.0"

// Split is a named, disjoint family of cases.
type Split string

// The named splits. A case is (split, seed): the split salts the random
// stream, so the same seed in two splits gives unrelated cases and the test
// split can never leak into training.
const (
	Train Split = "train"
	Val   Split = "val"
	Test  Split = "test"
)

// ParseSplit checks a split name.
func ParseSplit(s string) (Split, error) {
	switch Split(s) {
	case Train, Val, Test:
		return Split(s), nil
	}
	return "", fmt.Errorf("phantom: unknown split %q (want train, val or test)", s)
}

// salt is the split's stream key; it also folds in the version so a new
// generator gives new cases rather than silently altered ones.
func (s Split) salt() uint64 {
	h := fnv.New64a()
	h.Write([]byte(Version))
	h.Write([]byte{0})
	h.Write([]byte(s))
	return h.Sum64()
}

// CaseID is the stable name of a case, e.g. "test-0007".
func CaseID(s Split, seed uint64) string { return fmt.Sprintf("%s-%04d", s, seed) }
