package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"metsentry/firmware/testenv"
)

// shippedModel names the shipped model of a precision ("fp32", "int8") as
// the daemon's reports do, e.g. "model metnet 0.7.0 (fp32)", from its
// manifest in models/metnet: the tests follow the model that ships.
func shippedModel(t *testing.T, precision string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "models", "metnet", "metnet-"+precision+".manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Name, Version, Precision string }
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("model %s %s (%s)", m.Name, m.Version, m.Precision)
}

// copyShippedKeys copies every public key of the shipped models' trust
// store (models/trust) into dir.
func copyShippedKeys(t *testing.T, dir string) {
	t.Helper()
	keys, err := filepath.Glob(filepath.Join(testenv.RepoRoot(t), "models", "trust", "*.pub"))
	if err != nil || len(keys) == 0 {
		t.Fatalf("no public keys in models/trust: %v", err)
	}
	for _, k := range keys {
		b, err := os.ReadFile(k)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(k)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
