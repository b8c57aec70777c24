package dimse_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"metsentry/firmware/config"
	"metsentry/firmware/dimse"
	"metsentry/firmware/testenv"
)

// pki is a throw-away CA with a server and a client certificate, as PEM files.
type pki struct {
	dir                           string
	caCert, serverCert, serverKey string
	clientCert, clientKey         string
	strangerCert, strangerKey     string // signed by a CA the box does not trust
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// issue writes a key and a certificate for cn signed by (ca, caKey), or
// self-signed as a CA when ca is nil.
func issue(t *testing.T, dir, name, cn string, ca *x509.Certificate, caKey *rsa.PrivateKey) (*x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	parent, signer := tmpl, key
	if ca == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	} else {
		parent, signer = ca, caKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, name+".crt"), "CERTIFICATE", der)
	writePEM(t, filepath.Join(dir, name+".key"), "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))
	return cert, key
}

func makePKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	ca, caKey := issue(t, dir, "ca", "metsentry test CA", nil, nil)
	issue(t, dir, "server", "metsentry", ca, caKey)
	issue(t, dir, "client", "console", ca, caKey)
	other, otherKey := issue(t, dir, "other-ca", "someone else's CA", nil, nil)
	issue(t, dir, "stranger", "stranger", other, otherKey)
	p := func(n string) string { return filepath.Join(dir, n) }
	return pki{dir: dir, caCert: p("ca.crt"), serverCert: p("server.crt"), serverKey: p("server.key"),
		clientCert: p("client.crt"), clientKey: p("client.key"), strangerCert: p("stranger.crt"), strangerKey: p("stranger.key")}
}

// startSiteServer serves the SCP with the policy the site file's text gives.
func startSiteServer(t *testing.T, siteYAML string) (host, port, dir string) {
	t.Helper()
	site, err := config.ParseSite("site.yaml", []byte(siteYAML))
	if err != nil {
		t.Fatalf("site file: %v", err)
	}
	pol, err := dimse.PolicyFromConfig(site, &config.Board{})
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	s := &dimse.Server{Policy: pol, Storage: dimse.DirStorage{Dir: dir}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		<-done
	})
	host, port, _ = net.SplitHostPort(ln.Addr().String())
	return host, port, dir
}

// TestTLSSiteFileWithDcmtk turns TLS on through the site file and talks to
// the SCP with dcmtk's echoscu and storescu over TLS.
func TestTLSSiteFileWithDcmtk(t *testing.T) {
	k := makePKI(t)
	site := `ae_title: METSENTRY
allowed_peers: [{ae_title: CONSOLE, address: 127.0.0.1}]
tls:
  certificate: ` + k.serverCert + `
  key: ` + k.serverKey + `
  trusted_peers: ` + k.caCert + `
  require_client_certificate: true
`
	host, port, dir := startSiteServer(t, site)
	peer := []string{"-aet", consoleAE, "-aec", ourAE, host, port}
	tests := []struct {
		name string
		args []string
		ok   bool
	}{
		{"client certificate from the trusted CA", []string{"+tls", k.clientKey, k.clientCert, "+cf", k.caCert}, true},
		{"no client certificate", []string{"+tla", "+cf", k.caCert}, false},
		{"client certificate from another CA", []string{"+tls", k.strangerKey, k.strangerCert, "+cf", k.caCert}, false},
		{"plain TCP", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			args := append(append([]string{"-v"}, tt.args...), peer...)
			out, err := exec.CommandContext(ctx, testenv.Program(t, "echoscu"), args...).CombinedOutput()
			got := err == nil && strings.Contains(string(out), "Received Echo Response (Success)")
			if got != tt.ok {
				t.Fatalf("echoscu %v: succeeded %v, want %v: %v\n%s", tt.args, got, tt.ok, err, tail(out))
			}
		})
	}

	src := filepath.Join(testenv.SharedData(t, "dicom", "philips-mprage-sag3d"))
	files, err := filepath.Glob(filepath.Join(src, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no files in %s: %v", src, err)
	}
	run(t, 30*time.Second, "storescu", append([]string{"+tls", k.clientKey, k.clientCert, "+cf", k.caCert}, append(peer, files[0])...)...)
	stored := 0
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			stored++
		}
		return nil
	})
	if stored != 1 {
		t.Errorf("storescu over TLS: %d files stored, want 1", stored)
	}
}

func TestTLSOptionalClientCertificate(t *testing.T) {
	k := makePKI(t)
	site := `ae_title: METSENTRY
allowed_peers: [{ae_title: CONSOLE, address: 127.0.0.1}]
tls: {certificate: ` + k.serverCert + `, key: ` + k.serverKey + `, trusted_peers: ` + k.caCert + `}
`
	host, port, _ := startSiteServer(t, site)
	for _, tt := range []struct {
		name string
		args []string
		ok   bool
	}{
		{"no client certificate", []string{"+tla", "+cf", k.caCert}, true},
		{"a certificate from another CA is still refused", []string{"+tls", k.strangerKey, k.strangerCert, "+cf", k.caCert}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := exec.Command(testenv.Program(t, "echoscu"), append(append([]string{"-v"}, tt.args...), "-aet", consoleAE, "-aec", ourAE, host, port)...).CombinedOutput()
			if got := err == nil && strings.Contains(string(out), "(Success)"); got != tt.ok {
				t.Fatalf("succeeded %v, want %v: %v\n%s", got, tt.ok, err, tail(out))
			}
		})
	}
}
