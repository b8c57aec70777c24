package model

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"metsentry/runtime/ort"
	"metsentry/runtime/trust"
)

// TestShippedModelsOpen opens the models the firmware ships (models/metnet)
// the way the daemon does: verified against the committed trust store, shape
// checked and self-tested against their reference outputs. Both must pass on
// their own, so an INT8 fallback can never hide a broken fp32 file.
func TestShippedModelsOpen(t *testing.T) {
	initORT(t)
	root := filepath.Join("..", "..", "models")
	store, err := trust.LoadStore(filepath.Join(root, "trust"))
	if err != nil {
		t.Fatal(err)
	}
	for _, prec := range []string{"fp32", "int8"} {
		t.Run(prec, func(t *testing.T) {
			md, err := Open(context.Background(), Options{
				Candidates: []string{filepath.Join(root, "metnet", "metnet-"+prec+".manifest.json")},
				Store:      store,
				Session:    ort.SessionOptions{IntraOpThreads: 2},
				Logger:     slog.New(slog.DiscardHandler),
			})
			if err != nil {
				t.Fatalf("shipped %s model refused: %v", prec, err)
			}
			defer md.Close()
			if md.Manifest().Precision != prec || len(md.Refused()) != 0 {
				t.Fatalf("opened %s with refusals %v", md.Manifest().Precision, md.Refused())
			}
			t.Log(md.Details())
		})
	}
}

// OpenTool opens a shipped model as the scoring tools do, refuses to run
// without a trust store, and plans with its precision's bytes per voxel.
func TestOpenTool(t *testing.T) {
	initORT(t)
	root := filepath.Join("..", "..", "models")
	path := filepath.Join(root, "metnet", "metnet-int8.manifest.json")
	if _, _, err := OpenTool(context.Background(), path, "", "", 1<<30); err == nil {
		t.Fatal("OpenTool without a trust store opened the model")
	}
	md, plan, err := OpenTool(context.Background(), path, filepath.Join(root, "trust"), "", 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	defer md.Close()
	if md.Manifest().Precision != "int8" || plan.BudgetBytes != 1<<30 || plan.BytesPerVoxel != BytesPerVoxel(md.Manifest()) {
		t.Fatalf("precision %s, plan budget %d bytes/voxel %g", md.Manifest().Precision, plan.BudgetBytes, plan.BytesPerVoxel)
	}
}
