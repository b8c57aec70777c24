package main

import (
	"slices"
	"testing"
)

func TestBrainsOfSplits(t *testing.T) {
	got, err := brainsOf("train, val")
	want := []string{"brats-gli-00001", "colin27", "mricron-chris-t1", "studyforrest-sub02"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("brainsOf(train, val) = %v, %v; want %v", got, err, want)
	}
	if got, err := brainsOf("test"); err != nil || slices.Contains(got, "colin27") || len(got) != 2 {
		t.Errorf("brainsOf(test) = %v, %v", got, err)
	}
	if _, err := brainsOf("train,tset"); err == nil {
		t.Error("brainsOf(train,tset): no error")
	}
}
