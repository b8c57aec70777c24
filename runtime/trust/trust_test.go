package trust

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pair copies the tiny test model and its manifest into a fresh folder.
func pair(t *testing.T) (dir, manifestPath string) {
	t.Helper()
	dir = t.TempDir()
	for _, f := range []string{"unet_tiny-fp32.onnx", "unet_tiny-fp32.manifest.json", "unet_tiny-ref-in.f32", "unet_tiny-ref-out.f32"} {
		b, err := os.ReadFile(filepath.Join("..", "testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, filepath.Join(dir, "unet_tiny-fp32.manifest.json")
}

func keys(t *testing.T, dir, name string) (string, ed25519.PrivateKey) {
	t.Helper()
	id, err := KeyGen(rand.Reader, dir, name)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return id, k
}

func TestVerify(t *testing.T) {
	keyDir := t.TempDir()
	storeDir := filepath.Join(keyDir, "store")
	if err := os.Mkdir(storeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	vendorID, _ := keys(t, keyDir, "vendor")
	if err := os.Rename(filepath.Join(keyDir, "vendor.pub"), filepath.Join(storeDir, "vendor.pub")); err != nil {
		t.Fatal(err)
	}
	_, rogue := keys(t, keyDir, "rogue")
	store, err := LoadStore(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	if ids := store.IDs(); len(ids) != 1 || ids[0] != vendorID {
		t.Fatalf("store ids %v, want [%s]", ids, vendorID)
	}

	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, dir, mp string)
		store   *Store
		want    error
	}{
		{"signed", func(t *testing.T, dir, mp string) {}, store, nil},
		{"tampered model", func(t *testing.T, dir, mp string) {
			p := filepath.Join(dir, "unet_tiny-fp32.onnx")
			b, _ := os.ReadFile(p)
			b[len(b)-10] ^= 1
			os.WriteFile(p, b, 0o600)
		}, store, ErrDigestMismatch},
		{"tampered manifest", func(t *testing.T, dir, mp string) {
			b, _ := os.ReadFile(mp)
			os.WriteFile(mp, []byte(strings.Replace(string(b), `"threshold": 0.5`, `"threshold": 0.9`, 1)), 0o600)
		}, store, ErrBadSignature},
		{"model and manifest swapped consistently", func(t *testing.T, dir, mp string) {
			// An attacker replaces the model and fixes the sha256 in the manifest.
			p := filepath.Join(dir, "unet_tiny-fp32.onnx")
			b, _ := os.ReadFile(p)
			old := sha256Hex(b)
			b[len(b)-10] ^= 1
			os.WriteFile(p, b, 0o600)
			m, _ := os.ReadFile(mp)
			os.WriteFile(mp, []byte(strings.Replace(string(m), old, sha256Hex(b), 1)), 0o600)
		}, store, ErrBadSignature},
		{"tampered reference output", func(t *testing.T, dir, mp string) {
			p := filepath.Join(dir, "unet_tiny-ref-out.f32")
			b, _ := os.ReadFile(p)
			b[100] ^= 0x40
			os.WriteFile(p, b, 0o600)
		}, store, ErrDigestMismatch},
		{"unsigned", func(t *testing.T, dir, mp string) { os.Remove(mp + SigSuffix) }, store, ErrUnsigned},
		{"signed by an untrusted key", func(t *testing.T, dir, mp string) {
			if err := Sign(mp, rogue); err != nil {
				t.Fatal(err)
			}
		}, store, ErrUntrustedKey},
		{"empty trust store", func(t *testing.T, dir, mp string) {}, NewStore(), ErrNoKeys},
		{"garbled signature", func(t *testing.T, dir, mp string) { os.WriteFile(mp+SigSuffix, []byte(`{"format":1}`), 0o600) }, store, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, mp := pair(t)
			if err := SignWithKeyFile(mp, filepath.Join(keyDir, "vendor.key")); err != nil {
				t.Fatal(err)
			}
			tc.prepare(t, dir, mp)
			v, err := Verify(mp, tc.store)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if v.KeyID != vendorID || v.Manifest.Name != "unet_tiny" || sha256Hex(v.Model) != v.Manifest.SHA256 || len(v.Files["unet_tiny-ref-out.f32"]) != 16*16*16*4 {
					t.Fatalf("verified %+v", v.Manifest)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSignRefusesBrokenPair(t *testing.T) {
	dir, mp := pair(t)
	_, k := keys(t, t.TempDir(), "k")
	os.WriteFile(filepath.Join(dir, "unet_tiny-fp32.onnx"), []byte("not the model"), 0o600)
	if err := Sign(mp, k); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("Sign of a mismatched pair: %v", err)
	}
	if _, err := os.Stat(mp + SigSuffix); err == nil {
		t.Fatal("a signature was written")
	}
}

func TestManifestFileMustBeBeside(t *testing.T) {
	dir, mp := pair(t)
	b, _ := os.ReadFile(mp)
	os.WriteFile(mp, []byte(strings.Replace(string(b), `"file": "unet_tiny-fp32.onnx"`, `"file": "../unet_tiny-fp32.onnx"`, 1)), 0o600)
	_, err := Verify(mp, NewStore(make(ed25519.PublicKey, 32)))
	if err == nil || !strings.Contains(err.Error(), "bare file name") {
		t.Fatalf("err = %v", err)
	}
	_ = dir
}

func TestKeyGenRefusesOverwrite(t *testing.T) {
	dir := t.TempDir()
	if _, err := KeyGen(rand.Reader, dir, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := KeyGen(rand.Reader, dir, "a"); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("second KeyGen: %v", err)
	}
	if st, err := os.Stat(filepath.Join(dir, "a.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode: %v %v", st.Mode(), err)
	}
	if _, err := KeyGen(rand.Reader, dir, "../b"); err == nil {
		t.Fatal("KeyGen accepted a path as a name")
	}
}

func FuzzParseSignature(f *testing.F) {
	f.Add([]byte(`{"format":"metsentry-model-sig-v1","key_id":"0123456789abcdef","manifest_sha256":"` + strings.Repeat("a", 64) + `","model_sha256":"` + strings.Repeat("b", 64) + `","signature":"` + strings.Repeat("A", 86) + `=="}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSignature(data)
		if err == nil && (len(s.KeyID) != 16 || len(s.ModelSHA256) != 64) {
			t.Fatalf("accepted %+v", s)
		}
	})
}

func FuzzParsePublicKey(f *testing.F) {
	pub, _, _ := GenerateKey(rand.Reader, "seed key")
	f.Add(pub)
	f.Add([]byte("metsentry-ed25519 AAAA"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParsePublicKey(data)
		if err == nil && len(k) != ed25519.PublicKeySize {
			t.Fatalf("accepted a %d-byte key", len(k))
		}
	})
}

func TestVerifyMessage(t *testing.T) {
	dir := t.TempDir()
	id, k := keys(t, dir, "vendor")
	otherID, other := keys(t, t.TempDir(), "other")
	store, err := LoadStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("metsentry-bundle-sig-v1\nabc\n")
	tampered := append([]byte(nil), msg...)
	tampered[3] ^= 1
	tests := []struct {
		name  string
		store *Store
		keyID string
		msg   []byte
		sig   []byte
		want  error
	}{
		{"signed by a trusted key", store, id, msg, ed25519.Sign(k, msg), nil},
		{"message changed by one bit", store, id, tampered, ed25519.Sign(k, msg), ErrBadSignature},
		{"signed by an untrusted key", store, otherID, msg, ed25519.Sign(other, msg), ErrUntrustedKey},
		{"other key's signature under the trusted id", store, id, msg, ed25519.Sign(other, msg), ErrBadSignature},
		{"truncated signature", store, id, msg, ed25519.Sign(k, msg)[:10], ErrBadSignature},
		{"empty store", NewStore(), id, msg, ed25519.Sign(k, msg), ErrNoKeys},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.store.VerifyMessage(tc.keyID, tc.msg, tc.sig)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("VerifyMessage = %v, want %v", err, tc.want)
			}
			if errors.Is(err, ErrUntrustedKey) && !strings.Contains(err.Error(), id) {
				t.Fatalf("untrusted-key error does not name the trusted key %s: %v", id, err)
			}
		})
	}
}

func TestLoadPrivateKey(t *testing.T) {
	dir := t.TempDir()
	id, _ := keys(t, dir, "vendor")
	k, err := LoadPrivateKey(filepath.Join(dir, "vendor.key"))
	if err != nil || KeyID(k.Public().(ed25519.PublicKey)) != id {
		t.Fatalf("LoadPrivateKey: %v, id mismatch", err)
	}
	if _, err := LoadPrivateKey(filepath.Join(dir, "vendor.pub")); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a public key file read as private: %v, want ErrMalformed", err)
	}
}
