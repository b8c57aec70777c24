package dimse

import (
	"crypto/tls"
	"crypto/x509"
)

// ServerTLSConfig returns a TLS configuration for the SCP following the BCP
// 195 TLS secure transport connection profile (PS3.15 §B.9): TLS 1.2 or
// later with forward-secret AEAD cipher suites. When clientCAs is not nil the
// peer must present a certificate signed by one of them, as the DICOM
// profiles expect both nodes to authenticate.
func ServerTLSConfig(cert tls.Certificate, clientCAs *x509.CertPool) *tls.Config {
	c := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		CipherSuites: bcp195Suites,
	}
	if clientCAs != nil {
		c.ClientCAs = clientCAs
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return c
}

// ClientTLSConfig returns the SCU side of ServerTLSConfig: the peer's
// certificate must chain to roots and name serverName; cert, when not nil,
// is presented to peers that ask for one.
func ClientTLSConfig(serverName string, roots *x509.CertPool, cert *tls.Certificate) *tls.Config {
	c := &tls.Config{ServerName: serverName, RootCAs: roots, MinVersion: tls.VersionTLS12, CipherSuites: bcp195Suites}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}

// bcp195Suites are the TLS 1.2 suites BCP 195 recommends (TLS 1.3 suites
// are not configurable and all qualify).
var bcp195Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
}
