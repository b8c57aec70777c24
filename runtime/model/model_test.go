package model

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"metsentry/runtime/infer"
	"metsentry/runtime/manifest"
	"metsentry/runtime/ort"
	"metsentry/runtime/trust"
)

const childEnv = "METSENTRY_MODEL_AMX_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		if err := amxChild(mode == "guard", os.Getenv(childEnv+"_DIR")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func initORT(t *testing.T) {
	t.Helper()
	if err := ort.Init(ort.DefaultLibraryPath()); err != nil {
		t.Fatalf("ONNX Runtime %s is needed (run ./build.sh deps): %v", ort.Version, err)
	}
}

// kit is a folder of signed test models with a trust store.
type kit struct {
	dir   string
	key   ed25519.PrivateKey
	store *trust.Store
}

func newKit(t *testing.T, files ...string) *kit {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k := &kit{dir: t.TempDir(), key: priv, store: trust.NewStore(pub)}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join("..", "testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(k.dir, filepath.Base(f)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		if strings.HasSuffix(f, ".manifest.json") {
			k.sign(t, filepath.Base(f))
		}
	}
	return k
}

func (k *kit) path(name string) string { return filepath.Join(k.dir, name) }

func (k *kit) sign(t *testing.T, name string) {
	t.Helper()
	if err := trust.Sign(k.path(name), k.key); err != nil {
		t.Fatal(err)
	}
}

// editManifest changes a manifest and signs it again (a legitimately signed
// but wrong manifest).
func (k *kit) editManifest(t *testing.T, name string, edit func(m *manifest.Manifest)) {
	t.Helper()
	m, err := manifest.Load(k.path(name))
	if err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k.path(name), b, 0o600); err != nil {
		t.Fatal(err)
	}
	k.sign(t, name)
}

func writeF32(t *testing.T, path string, v []float32) {
	t.Helper()
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

var tinyFiles = []string{
	"unet_tiny-fp32.onnx", "unet_tiny-int8.onnx", "unet_tiny-fp32.manifest.json", "unet_tiny-int8.manifest.json",
	"unet_tiny-ref-in.f32", "unet_tiny-ref-out.f32",
}

func TestOpen(t *testing.T) {
	initORT(t)
	k := newKit(t, tinyFiles...)
	for _, prec := range []string{"fp32", "int8"} {
		t.Run(prec, func(t *testing.T) {
			m, err := Open(context.Background(), Options{
				Candidates: []string{k.path("unet_tiny-" + prec + ".manifest.json")},
				Store:      k.store,
				Session:    ort.SessionOptions{IntraOpThreads: 1},
				WarmUp:     [3]int{32, 32, 32},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.Provider() != ort.ProviderCPU || m.Manifest().Precision != prec || len(m.Refused()) != 0 {
				t.Fatalf("provider %s, precision %s, refused %v", m.Provider(), m.Manifest().Precision, m.Refused())
			}
			for _, want := range []string{"unet_tiny 0.0.0-test (" + prec + ")", "cpu", "AMX guard", "self-test max diff"} {
				if !strings.Contains(m.Details(), want) {
					t.Errorf("Details %q lacks %q", m.Details(), want)
				}
			}
			t.Logf("%s", m.Details())
		})
	}
}

func TestOpenRefuses(t *testing.T) {
	initORT(t)
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, k *kit)
		store   func(k *kit) *trust.Store
		want    []error
		msg     string
	}{
		{"tampered model", func(t *testing.T, k *kit) {
			p := k.path("unet_tiny-fp32.onnx")
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0x10
			os.WriteFile(p, b, 0o600)
		}, nil, []error{trust.ErrDigestMismatch}, "hashes to"},
		{"unsigned", func(t *testing.T, k *kit) { os.Remove(k.path("unet_tiny-fp32.manifest.json.sig")) }, nil, []error{trust.ErrUnsigned}, "not signed"},
		{"signed by another key", func(t *testing.T, k *kit) {}, func(k *kit) *trust.Store {
			other, _, _ := ed25519.GenerateKey(rand.Reader)
			return trust.NewStore(other)
		}, []error{trust.ErrUntrustedKey}, "not trusted"},
		{"wrong input channels", func(t *testing.T, k *kit) {
			k.editManifest(t, "unet_tiny-fp32.manifest.json", func(m *manifest.Manifest) {
				m.Channels = []string{"bright"}
				m.Reference.Shape[1] = 1
			})
		}, nil, []error{ErrShape}, "input has 2 channels, the manifest lists 1"},
		{"output channel missing", func(t *testing.T, k *kit) {
			k.editManifest(t, "unet_tiny-fp32.manifest.json", func(m *manifest.Manifest) { m.Output.Channel = 3 })
		}, nil, []error{ErrShape}, "output has 1 channels, the manifest reads channel 3"},
		{"reference output does not match", func(t *testing.T, k *kit) {
			v := make([]float32, 16*16*16)
			for i := range v {
				v[i] = 0.5
			}
			writeF32(t, k.path("bad-ref-out.f32"), v)
			k.editManifest(t, "unet_tiny-fp32.manifest.json", func(m *manifest.Manifest) { m.Reference.Output = "bad-ref-out.f32" })
		}, nil, []error{ErrSelfTest}, "differs from the reference"},
		{"no reference", func(t *testing.T, k *kit) {
			k.editManifest(t, "unet_tiny-fp32.manifest.json", func(m *manifest.Manifest) { m.Reference = nil })
		}, nil, []error{ErrSelfTest}, "no reference"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newKit(t, tinyFiles...)
			tc.prepare(t, k)
			store := k.store
			if tc.store != nil {
				store = tc.store(k)
			}
			m, err := Open(context.Background(), Options{
				Candidates: []string{k.path("unet_tiny-fp32.manifest.json")}, Store: store,
				Session: ort.SessionOptions{IntraOpThreads: 1},
			})
			if err == nil {
				m.Close()
				t.Fatal("model opened")
			}
			for _, w := range append(tc.want, ErrNoUsableModel) {
				if !errors.Is(err, w) {
					t.Errorf("err = %v, want %v", err, w)
				}
			}
			if !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), "unet_tiny-fp32.manifest.json") {
				t.Errorf("error %q should name the manifest and say %q", err, tc.msg)
			}
		})
	}
}

// TestInt8FailingSelfTestFallsBackToFP32 gives the INT8 candidate a reference
// it cannot match: Open must refuse it and run the fp32 twin.
func TestInt8FailingSelfTestFallsBackToFP32(t *testing.T) {
	initORT(t)
	k := newKit(t, tinyFiles...)
	ref := make([]float32, 16*16*16)
	writeF32(t, k.path("int8-bad-ref-out.f32"), ref) // all zeros: sigmoid never gives that
	k.editManifest(t, "unet_tiny-int8.manifest.json", func(m *manifest.Manifest) { m.Reference.Output = "int8-bad-ref-out.f32" })
	m, err := Open(context.Background(), Options{
		Candidates: []string{k.path("unet_tiny-int8.manifest.json"), k.path("unet_tiny-fp32.manifest.json")},
		Store:      k.store, Session: ort.SessionOptions{IntraOpThreads: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Manifest().Precision != "fp32" {
		t.Fatalf("running %s, want the fp32 fallback", m.Manifest().Precision)
	}
	if r := m.Refused(); len(r) != 1 || !strings.Contains(r[0], "self-test failed") || !strings.Contains(r[0], "unet_tiny-int8") {
		t.Fatalf("refused %q", r)
	}
	if !strings.Contains(m.Details(), "after refusing 1 candidate") {
		t.Fatalf("Details %q does not mention the refused candidate", m.Details())
	}
}

// amxChild opens the 24-from-2 repro model (int8, then its fp32 twin) with
// or without the AMX guard and prints which one runs.
func amxChild(guarded bool, dir string) error {
	var opts []ort.InitOption
	if !guarded {
		opts = append(opts, ort.WithoutAMXGuard())
	}
	if err := ort.Init(ort.DefaultLibraryPath(), opts...); err != nil {
		return err
	}
	store, err := trust.LoadStore(dir)
	if err != nil {
		return err
	}
	m, err := Open(context.Background(), Options{
		Candidates: []string{filepath.Join(dir, "conv_o24_i2-int8.manifest.json"), filepath.Join(dir, "conv_o24_i2-fp32.manifest.json")},
		Store:      store, Session: ort.SessionOptions{IntraOpThreads: 1},
	})
	if err != nil {
		return err
	}
	defer m.Close()
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"precision": m.Manifest().Precision, "refused": m.Refused(), "guard": string(ort.AMXGuard()),
	})
}

// TestSelfTestCatchesAMXFault: with the guard, the INT8 repro model passes its
// self-test and runs. Without it (a child process), whatever happens, the model
// in use has passed its self-test: either the fault did not show, or the INT8
// model was refused and the fp32 twin runs. The outcome is logged.
func TestSelfTestCatchesAMXFault(t *testing.T) {
	files := []string{}
	for _, s := range []string{"int8.onnx", "fp32.onnx", "int8.manifest.json", "fp32.manifest.json", "ref-in.f32", "ref-out.f32"} {
		files = append(files, "amx/conv_o24_i2-"+s)
	}
	k := newKit(t, files...)
	// The child reads the trust store from the kit folder.
	pub := k.key.Public().(ed25519.PublicKey)
	if err := os.WriteFile(k.path("test.pub"), []byte("metsentry-ed25519 "+base64.StdEncoding.EncodeToString(pub)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	type result struct {
		Precision string   `json:"precision"`
		Refused   []string `json:"refused"`
		Guard     string   `json:"guard"`
	}
	run := func(mode string) result {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+mode, childEnv+"_DIR="+k.dir)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("child %s: %v\n%s", mode, err, stderr.String())
		}
		var r result
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("child %s: %q: %v", mode, out, err)
		}
		return r
	}
	g := run("guard")
	if g.Precision != "int8" || len(g.Refused) != 0 {
		t.Fatalf("with the guard (%s): running %s, refused %q; want int8 passing its self-test", g.Guard, g.Precision, g.Refused)
	}
	n := run("off")
	if n.Precision == "fp32" && (len(n.Refused) != 1 || !strings.Contains(n.Refused[0], "self-test failed")) {
		t.Fatalf("without the guard: fp32 runs but the refusal was %q", n.Refused)
	}
	t.Logf("with guard (%s): int8 passes its self-test", g.Guard)
	t.Logf("without guard: running %s; refused: %q", n.Precision, n.Refused)
}

// TestTiledEqualsWholeVolume runs the tiny U-Net (receptive field 18 voxels,
// pooling once) over a volume in one pass and in tiles whose margins cover
// half the receptive field, cut and blended, and requires equality within
// 1e-4. It also cancels a tiled run after the first tile.
func TestTiledEqualsWholeVolume(t *testing.T) {
	initORT(t)
	k := newKit(t, tinyFiles...)
	m, err := Open(context.Background(), Options{
		Candidates: []string{k.path("unet_tiny-fp32.manifest.json")}, Store: k.store,
		Session: ort.SessionOptions{IntraOpThreads: 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	dims := [3]int{30, 38, 46}
	shape := [5]int64{1, 2, int64(dims[0]), int64(dims[1]), int64(dims[2])}
	vol := make([]float32, 2*dims[0]*dims[1]*dims[2])
	for i := range vol {
		vol[i] = float32(math.Sin(float64(i)*0.37))*1.5 + float32(math.Cos(float64(i)*0.011))
	}
	whole, wshape, st, err := infer.Predict(context.Background(), m, vol, shape, infer.Plan{Multiple: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Whole || wshape != [5]int64{1, 1, shape[2], shape[3], shape[4]} {
		t.Fatalf("whole pass stats %+v shape %v", st, wshape)
	}
	for _, tc := range []struct {
		name  string
		plan  infer.Plan
		exact bool
	}{
		{"cut", infer.Plan{Multiple: 2, Patch: [3]int{28, 28, 28}, Overlap: [3]int{20, 20, 20}, Margin: [3]int{10, 10, 10}, ForceTiles: true}, true},
		{"blend", infer.Plan{Multiple: 2, Patch: [3]int{30, 30, 30}, Overlap: [3]int{24, 24, 24}, Margin: [3]int{10, 10, 10}, Blend: true, ForceTiles: true}, true},
		{"margin below the receptive field", infer.Plan{Multiple: 2, Patch: [3]int{20, 20, 20}, Overlap: [3]int{4, 4, 4}, Margin: [3]int{2, 2, 2}, ForceTiles: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, st, err := infer.Predict(context.Background(), m, vol, shape, tc.plan)
			if err != nil {
				t.Fatal(err)
			}
			var worst float64
			for i := range got {
				worst = math.Max(worst, math.Abs(float64(got[i]-whole[i])))
			}
			t.Logf("%d tiles, max |tiled - whole| = %.3g", st.Tiles, worst)
			if st.Tiles < 8 {
				t.Fatalf("only %d tiles", st.Tiles)
			}
			if tc.exact && worst > 1e-4 {
				t.Fatalf("max |tiled - whole| = %g, want <= 1e-4", worst)
			}
			if !tc.exact && worst < 1e-3 {
				t.Fatalf("max |tiled - whole| = %g: the test cannot tell a bad margin", worst)
			}
		})
	}
	t.Run("cancel after the first tile", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c := &counting{Engine: m, after: 1, cancel: cancel}
		_, _, st, err := infer.Predict(ctx, c, vol, shape, infer.Plan{Multiple: 2, Patch: [3]int{28, 28, 28}, Overlap: [3]int{20, 20, 20}, Margin: [3]int{10, 10, 10}, ForceTiles: true})
		if !errors.Is(err, context.Canceled) || c.runs != 1 {
			t.Fatalf("err %v after %d of %d tiles, want Canceled after 1", err, c.runs, st.Tiles)
		}
	})
}

type counting struct {
	infer.Engine
	runs, after int
	cancel      func()
}

func (c *counting) Run(ctx context.Context, in []float32, shape [5]int64) ([]float32, error) {
	c.runs++
	out, err := c.Engine.Run(ctx, in, shape)
	if c.runs == c.after {
		c.cancel()
	}
	return out, err
}
