package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"metsentry/firmware/bundle/bundletest"
	"metsentry/runtime/trust"
)

func cli(args ...string) (int, string, string) {
	var o, e bytes.Buffer
	code := run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

func TestBuildAndVerify(t *testing.T) {
	keys := t.TempDir()
	if code, out, errs := cli("keygen", "-dir", keys, "-name", "vendor"); code != 0 || !strings.Contains(out, "vendor.pub goes into the appliance's trust store") {
		t.Fatalf("keygen: %d %s %s", code, out, errs)
	}
	// The vendor key signs the model too; the store the model verifies
	// against is the folder keygen wrote (it reads *.pub only).
	v := bundletest.NewVendor(t, "scratch")
	model := v.Model(t)
	if err := trust.SignWithKeyFile(model, filepath.Join(keys, "vendor.key")); err != nil {
		t.Fatal(err)
	}
	fw := filepath.Join(t.TempDir(), "metsentryd")
	if err := os.WriteFile(fw, []byte("\x7fELF firmware"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "metsentry-1.4.0.bundle")
	code, stdout, stderr := cli("build", "-version", "1.4.0", "-firmware", fw, "-model", model, "-trust", keys, "-key", filepath.Join(keys, "vendor.key"), "-out", out)
	if code != 0 || !strings.Contains(stdout, "version 1.4.0, firmware bin/metsentryd") || !strings.Contains(stdout, "model unet_tiny 0.0.0-test (fp32)") {
		t.Fatalf("build: %d\n%s%s", code, stdout, stderr)
	}
	altered := filepath.Join(t.TempDir(), "altered.bundle")
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(altered, b, 0o644); err != nil {
		t.Fatal(err)
	}
	other := bundletest.NewVendor(t, "other")
	tests := []struct {
		name  string
		args  []string
		code  int
		says  string
		where string // "out" or "err"
	}{
		{"trusted", []string{"verify", "-trust", keys, out}, 0, "ok, signed by trusted key", "out"},
		{"untrusted key", []string{"verify", "-trust", other.TrustDir, out}, 1, "REFUSED: bundle: signed by a key that is not trusted", "err"},
		{"one byte changed", []string{"verify", "-trust", keys, altered}, 1, "REFUSED: bundle: changed after signing", "err"},
		{"build: model the store does not trust", []string{"build", "-version", "1", "-firmware", fw, "-model", model, "-trust", other.TrustDir, "-key", filepath.Join(keys, "vendor.key"), "-out", filepath.Join(t.TempDir(), "x")}, 1, "only models the appliance would load", "err"},
		{"build: flags missing", []string{"build", "-version", "1"}, 2, "are required", "err"},
		{"unknown command", []string{"sign"}, 2, "unknown command", "err"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, o, e := cli(tc.args...)
			got := o
			if tc.where == "err" {
				got = e
			}
			if code != tc.code || !strings.Contains(got, tc.says) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant %q", code, tc.code, o, e, tc.says)
			}
		})
	}
}
