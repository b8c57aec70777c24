package score

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseLevels reads a comma-separated list of thresholds, each strictly
// between 0 and 1 (an FROC sweep, or the levels of an operating map);
// "" gives none.
func ParseLevels(s string) ([]float64, error) {
	if s == "" {
		return nil, nil
	}
	var out []float64
	for _, f := range strings.Split(s, ",") {
		t, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || !(t > 0 && t < 1) {
			return nil, fmt.Errorf("%q is not a level between 0 and 1", f)
		}
		out = append(out, t)
	}
	return out, nil
}
