package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
)

// SiteTLS turns on the DICOM TLS profile for the SCP (PS3.15 §B.9, BCP 195):
// the box presents Certificate, and checks peers' certificates against
// TrustedPeers.
type SiteTLS struct {
	// Certificate and Key are PEM files: the box's certificate chain and its
	// private key.
	Certificate string `yaml:"certificate"`
	Key         string `yaml:"key"`
	// TrustedPeers is a PEM bundle of the CA certificates (or self-signed
	// peer certificates) that a peer's client certificate must chain to.
	TrustedPeers string `yaml:"trusted_peers"`
	// RequireClientCertificate refuses a peer that presents no certificate
	// chaining to TrustedPeers. When false, a presented certificate is still
	// verified.
	RequireClientCertificate bool `yaml:"require_client_certificate"`
}

// Load reads the key pair and, when TrustedPeers is set, the peer CA pool
// (nil otherwise).
func (t *SiteTLS) Load() (tls.Certificate, *x509.CertPool, error) {
	cert, err := tls.LoadX509KeyPair(t.Certificate, t.Key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("config: tls certificate %s with key %s: %w", t.Certificate, t.Key, unwrapPathErr(err))
	}
	if t.TrustedPeers == "" {
		return cert, nil, nil
	}
	pem, err := os.ReadFile(t.TrustedPeers)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("config: tls trusted_peers: %w", unwrapPathErr(err))
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return tls.Certificate{}, nil, fmt.Errorf("config: tls trusted_peers %s holds no PEM certificate", t.TrustedPeers)
	}
	return cert, pool, nil
}

func (t *SiteTLS) check(c *checker) {
	for _, f := range []struct{ key, path, example string }{
		{"tls.certificate", t.Certificate, "/etc/metsentry/tls/box.crt"},
		{"tls.key", t.Key, "/etc/metsentry/tls/box.key"},
		{"tls.trusted_peers", t.TrustedPeers, "/etc/metsentry/tls/peers.pem"},
	} {
		switch {
		case f.path == "" && f.key != "tls.trusted_peers":
			c.addf(f.key, "%s is missing (TLS needs the box's certificate and key as PEM files, e.g. %s)", f.key, f.example)
			return
		case f.path != "" && !filepath.IsAbs(f.path):
			c.addf(f.key, "%s %q is not an absolute path (expected e.g. %s)", f.key, f.path, f.example)
			return
		}
	}
	if t.RequireClientCertificate && t.TrustedPeers == "" {
		c.addf("tls.require_client_certificate", "tls.require_client_certificate needs tls.trusted_peers (the PEM bundle that peers' certificates must chain to)")
		return
	}
	if _, _, err := t.Load(); err != nil {
		c.addf("tls", "%v (check the files exist, are PEM and belong together)", err)
	}
}
