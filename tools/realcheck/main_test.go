package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

func TestRunErrors(t *testing.T) {
	tests := []struct {
		name, model, data, want string
	}{
		{"no model", "", "", "-model is required"},
		{"no data", "x.json", t.TempDir(), "expected exactly one *-t1c.nii.gz"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), tc.model, "", "", tc.data, t.TempDir(), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestRunNegativesErrors(t *testing.T) {
	tests := []struct {
		name, model, shared string
		brains              []string
		want                string
	}{
		{"no model", "", t.TempDir(), []string{"colin27"}, "-model is required"},
		{"unknown brain", "x.json", t.TempDir(), []string{"nobody"}, `unknown background "nobody"`},
		{"missing data", "x.json", t.TempDir(), []string{"colin27"}, "ch2.nii.gz"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := runNegatives(context.Background(), tc.model, "", "", tc.shared, tc.brains, nil, t.TempDir(), io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// -levels is score.ParseLevels (tested there) with the flag named in its
// error.
func TestParseLevels(t *testing.T) {
	if got, err := parseLevels("0.1, 0.5,0.99"); err != nil || len(got) != 3 {
		t.Fatalf("got %v, %v", got, err)
	}
	if _, err := parseLevels("0.5,x"); err == nil || !strings.Contains(err.Error(), "realcheck: -levels:") {
		t.Errorf("a bad level: %v", err)
	}
}
