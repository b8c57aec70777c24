package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSignedPEM writes a certificate and its key as PEM files into dir.
func selfSignedPEM(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	for f, b := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "EC PRIVATE KEY", Bytes: kder}} {
		if err := os.WriteFile(f, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}

func TestSiteTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSignedPEM(t, dir, "box")
	otherCert, _ := selfSignedPEM(t, dir, "other")
	notPEM := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, tls string
		want      string // "" for a good file
	}{
		{"server only", "{certificate: " + cert + ", key: " + key + "}", ""},
		{"mutual", "{certificate: " + cert + ", key: " + key + ", trusted_peers: " + otherCert + ", require_client_certificate: true}", ""},
		{"key missing", "{certificate: " + cert + "}", "tls.key is missing"},
		{"relative path", "{certificate: box.crt, key: " + key + "}", `tls.certificate "box.crt" is not an absolute path`},
		{"require without trusted peers", "{certificate: " + cert + ", key: " + key + ", require_client_certificate: true}", "needs tls.trusted_peers"},
		{"key of another certificate", "{certificate: " + otherCert + ", key: " + key + "}", "private key does not match public key"},
		{"missing file", "{certificate: " + filepath.Join(dir, "none.crt") + ", key: " + key + "}", "no such file or directory"},
		{"trusted peers not PEM", "{certificate: " + cert + ", key: " + key + ", trusted_peers: " + notPEM + "}", "holds no PEM certificate"},
		{"unknown key", "{certificate: " + cert + ", key: " + key + ", ciphers: all}", `unknown key "ciphers" in tls`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "ae_title: METSENTRY\ntls: " + tt.tls + "\n"
			s, err := ParseSite("site.yaml", []byte(src))
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := s.TLS.Load(); err != nil {
					t.Fatal(err)
				}
				return
			}
			ps := AsProblems(err)
			if len(ps) != 1 || !strings.Contains(ps[0].Msg, tt.want) {
				t.Fatalf("problems %v, want one saying %q", err, tt.want)
			}
			if ps[0].Line != 2 {
				t.Errorf("problem on line %d, want 2", ps[0].Line)
			}
		})
	}
}
