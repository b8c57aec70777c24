package score

import "testing"

func TestParseLevels(t *testing.T) {
	got, err := ParseLevels(" 0.05,0.5 ,0.999")
	if err != nil || len(got) != 3 || got[0] != 0.05 || got[1] != 0.5 || got[2] != 0.999 {
		t.Fatalf("got %v, %v", got, err)
	}
	if got, err := ParseLevels(""); err != nil || got != nil {
		t.Errorf("none: got %v, %v", got, err)
	}
	for _, bad := range []string{"0", "1", "1.5", "-0.2", "x", "0.5,x", "0.5,", "0.5,,0.7"} {
		if _, err := ParseLevels(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
