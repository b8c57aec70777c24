package dimse

import (
	"crypto/tls"
	"fmt"
	"net/netip"
	"time"

	"metsentry/firmware/config"
)

// Defaults applied to Policy fields left zero.
const (
	DefaultMaxAssociations = 32
	DefaultIdleTimeout     = 5 * time.Minute
	DefaultARTIMTimeout    = 30 * time.Second
	DefaultMaxDataSetBytes = 2 << 30
)

// Peer is a calling AE allowed to open associations, and the addresses it may
// come from. An empty AETitle allows any calling AE from Prefix.
type Peer struct {
	AETitle string
	Prefix  netip.Prefix
}

// Policy is what the SCP accepts. The daemon fills it from the site and
// board configuration (PolicyFromConfig).
type Policy struct {
	// AETitle is the called AE title the SCP answers to.
	AETitle string
	// AllowedPeers lists who may associate. An empty list refuses everyone:
	// the SCP fails closed.
	AllowedPeers []Peer
	// MaxAssociations bounds concurrent associations; the next one gets
	// A-ASSOCIATE-RJ (transient, local limit exceeded). 0 means 32.
	MaxAssociations int
	// IdleTimeout aborts an association with no PDU for this long. 0 means
	// 5 minutes.
	IdleTimeout time.Duration
	// ARTIMTimeout bounds the wait for the A-ASSOCIATE-RQ after a
	// connection opens and for the peer to close after a reject or release.
	// 0 means 30 seconds.
	ARTIMTimeout time.Duration
	// MaxPDULength is the largest P-DATA-TF the SCP reads (and advertises).
	// 0 means 1 MiB; values under 4096 are raised to 4096.
	MaxPDULength uint32
	// MaxDataSetBytes bounds one received data set; a larger one is
	// refused with A700. 0 means 2 GiB.
	MaxDataSetBytes int64
	// TLS, when set, makes the SCP speak the DICOM TLS profile.
	TLS *tls.Config
	// StrangerConnections bounds the negotiating connections from addresses
	// that no allowed peer uses, in all; StrangerPerAddress bounds them per
	// address; StrangerTimeout is their negotiation timer (admission.go).
	// 0 means DefaultStrangerConnections, DefaultStrangerPerAddress and
	// DefaultStrangerTimeout.
	StrangerConnections int
	StrangerPerAddress  int
	StrangerTimeout     time.Duration
}

// PolicyFromConfig builds the SCP policy from the site and board files.
func PolicyFromConfig(site *config.Site, board *config.Board) (Policy, error) {
	p := Policy{AETitle: site.AETitle, MaxAssociations: board.Limits.MaxAssociations, MaxPDULength: uint32(board.Limits.MaxPDUBytes)}
	for _, ap := range site.AllowedPeers {
		pre, err := config.ParsePeerAddress(ap.Address)
		if err != nil {
			return Policy{}, fmt.Errorf("dimse: allowed peer %s: address %q: %w", ap.AETitle, ap.Address, err)
		}
		p.AllowedPeers = append(p.AllowedPeers, Peer{AETitle: ap.AETitle, Prefix: pre})
	}
	if t := site.TLS; t != nil {
		cert, peers, err := t.Load()
		if err != nil {
			return Policy{}, fmt.Errorf("dimse: %w", err)
		}
		p.TLS = ServerTLSConfig(cert, peers)
		if peers != nil && !t.RequireClientCertificate {
			p.TLS.ClientAuth = tls.VerifyClientCertIfGiven
		}
	}
	return p.withDefaults(), nil
}

func (p Policy) withDefaults() Policy {
	if p.MaxAssociations <= 0 {
		p.MaxAssociations = DefaultMaxAssociations
	}
	if p.IdleTimeout <= 0 {
		p.IdleTimeout = DefaultIdleTimeout
	}
	if p.ARTIMTimeout <= 0 {
		p.ARTIMTimeout = DefaultARTIMTimeout
	}
	if p.MaxPDULength == 0 {
		p.MaxPDULength = DefaultMaxPDULength
	}
	p.MaxPDULength = max(p.MaxPDULength, MinPDULength)
	if p.MaxDataSetBytes <= 0 {
		p.MaxDataSetBytes = DefaultMaxDataSetBytes
	}
	if p.StrangerConnections <= 0 {
		p.StrangerConnections = DefaultStrangerConnections
	}
	if p.StrangerPerAddress <= 0 {
		p.StrangerPerAddress = DefaultStrangerPerAddress
	}
	if p.StrangerTimeout <= 0 {
		p.StrangerTimeout = min(DefaultStrangerTimeout, p.ARTIMTimeout)
	}
	return p
}

// allowed reports whether callingAE may associate from addr.
func (p *Policy) allowed(callingAE string, addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, ap := range p.AllowedPeers {
		if (ap.AETitle == "" || ap.AETitle == callingAE) && ap.Prefix.Contains(addr) {
			return true
		}
	}
	return false
}
