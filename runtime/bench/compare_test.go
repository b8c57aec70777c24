package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"metsentry/runtime/ort"
)

// Compare times every model in every round and puts the first at ratio 1;
// a model that cannot take the input is an error naming it.
func TestCompare(t *testing.T) {
	if err := ort.Init(ort.DefaultLibraryPath()); err != nil {
		t.Fatal(err)
	}
	models := []string{"../testdata/unet_tiny-fp32.onnx", "../testdata/unet-fp32.onnx"}
	dims := [3]int{16, 24, 32}
	rows, err := Compare(context.Background(), models, dims, 1, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Ratio != 1 {
		t.Fatalf("rows %+v, want two with the first at ratio 1", rows)
	}
	for _, r := range rows {
		if len(r.TimesS) != 2 || r.Median() <= 0 || r.Ratio <= 0 {
			t.Errorf("%s: times %v, ratio %g", r.Model, r.TimesS, r.Ratio)
		}
	}
	var out bytes.Buffer
	PrintCompared(&out, dims, 1, rows)
	if !strings.Contains(out.String(), "| unet-fp32.onnx |") || !strings.Contains(out.String(), "1x2x16x24x32") {
		t.Errorf("table:\n%s", out.String())
	}
	// Not a multiple of the bench U-Net's 8 (the tiny one takes it).
	if _, err := Compare(context.Background(), models, [3]int{12, 24, 32}, 1, 1, nil); err == nil || !strings.Contains(err.Error(), "testdata/unet-fp32.onnx") {
		t.Errorf("odd size: err = %v, want one naming the model", err)
	}
	if _, err := Compare(context.Background(), []string{"../testdata/missing.onnx"}, dims, 1, 1, nil); err == nil {
		t.Error("a missing model was timed")
	}
}

// A Pass says what it times and times it again and again; a model that
// cannot take the input fails when opened, not at the first timing.
func TestPass(t *testing.T) {
	if err := ort.Init(ort.DefaultLibraryPath()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, err := NewPass(ctx, "../testdata/unet_tiny-fp32.onnx", [3]int{16, 24, 32}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for range 2 {
		if s, err := p.Time(ctx); err != nil || !(s > 0) {
			t.Fatalf("pass: %g s, %v", s, err)
		}
	}
	for _, want := range []string{"unet_tiny-fp32.onnx", "1x2x16x24x32", "intra-op threads 1", "cpu"} {
		if !strings.Contains(p.Name(), want) {
			t.Errorf("name %q lacks %q", p.Name(), want)
		}
	}
	if _, err := NewPass(ctx, "../testdata/unet-fp32.onnx", [3]int{12, 24, 32}, 1); err == nil || !strings.Contains(err.Error(), "unet-fp32.onnx") {
		t.Errorf("odd size: %v", err)
	}
}
