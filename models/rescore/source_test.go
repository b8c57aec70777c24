package main

import (
	"strings"
	"testing"
)

// The stage is fitted on train brains only: naming a val or test brain, or
// no brain at all, is refused before anything is generated.
func TestSourceRefusesBrainsOutsideTrain(t *testing.T) {
	for _, bg := range []string{"mricron-chris-t1", "philips-mprage-sag3d", "no-such-brain", " , "} {
		_, _, err := source{backgrounds: bg, shared: t.TempDir()}.open()
		if err == nil || !strings.HasPrefix(err.Error(), "rescore: ") {
			t.Errorf("-backgrounds %q: err %v, want a rescore error", bg, err)
		}
	}
}
