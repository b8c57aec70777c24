//go:build !race

// The chain tests run the whole analysis on the phantom several times (a
// few seconds each, minutes under the race detector); build.sh runs them
// without -race.

package selftest_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"metsentry/firmware/selftest"
	"metsentry/runtime/infer"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name   string
		engine infer.Engine
		pass   bool
		// want is a piece of the failure message
		want string
	}{
		{"working model", good, true, ""},
		{"finds nothing", ruleNet{channels: []int{0, 1}, level: 100}, false, "the right frontal lesion (10 mm, solid) was not found"},
		{"blind to black-blood (flags the vein)", ruleNet{channels: []int{1}, level: 1.8}, false, "finding(s) where the phantom has no lesion"},
		{"too eager (lesions swell into tissue)", ruleNet{channels: []int{0, 1}, level: 0.3}, false, "lesion"},
		{"output shifted by 4 mm", ruleNet{channels: []int{0, 1}, level: 1.8, shift: 4}, false, "from where it was put"},
		{"run fails", failNet{}, false, "could not analyse the phantom: analyze: infer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := selftest.Check(context.Background(), testModel(tc.engine), sharedPhantom(t))
			if r.Passed != tc.pass {
				t.Fatalf("Passed = %v, want %v:\n%s", r.Passed, tc.pass, r)
			}
			err := r.Err()
			if tc.pass {
				if err != nil || len(r.Problems) > 0 || !strings.HasSuffix(r.String(), "PASS\n") {
					t.Fatalf("a passing report has err %v, problems %q:\n%s", err, r.Problems, r)
				}
				if len(r.Lesions) != 3 || len(r.Extra) != 0 {
					t.Fatalf("report has %d lesions and %d extras, want 3 and 0:\n%s", len(r.Lesions), len(r.Extra), r)
				}
				for _, m := range r.Lesions {
					if !m.Found || !m.WithinTolerance || m.Findings != 1 {
						t.Errorf("%s: %+v", m.Placed.Name, m)
					}
				}
				return
			}
			if !errors.Is(err, selftest.ErrFailed) {
				t.Fatalf("Err() = %v, want ErrFailed", err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(r.String(), "FAIL: ") {
				t.Fatalf("failure does not say %q:\n%s", tc.want, r)
			}
		})
	}
}

func TestBrightOnlyIsNotAPass(t *testing.T) {
	// A study read without its black-blood channel is not the self-test's
	// study, whatever the model finds.
	ph := sharedPhantom(t)
	f, err := testModel(good).Detect(context.Background(), nil, ph.Bright)
	if err != nil {
		t.Fatal(err)
	}
	r := selftest.Compare(ph, f)
	if r.Passed || !strings.Contains(r.Err().Error(), "read as bright-only") {
		t.Fatalf("bright-only passed or does not say so:\n%s", r)
	}
}

func TestPhantomIsDeterministic(t *testing.T) {
	// Run builds its own phantom: it must pass like the shared one.
	if r := selftest.Run(context.Background(), testModel(good)); !r.Passed {
		t.Fatalf("Run on a fresh phantom failed:\n%s", r)
	}
	a, b := sharedPhantom(t), selftest.NewPhantom()
	for name, pair := range map[string][2][]float32{"bright": {a.Bright.Data, b.Bright.Data}, "black": {a.Black.Data, b.Black.Data}} {
		for i := range pair[0] {
			if pair[0][i] != pair[1][i] {
				t.Fatalf("%s voxel %d: %g then %g", name, i, pair[0][i], pair[1][i])
			}
		}
	}
}
