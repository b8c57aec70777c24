package config

import (
	"net"
	"net/netip"
	"strconv"
)

// DefaultStatusListen is where the Prometheus status endpoint listens when
// the site file does not say: loopback only.
const DefaultStatusListen = "127.0.0.1:9464"

// StatusEndpoint is the Prometheus status endpoint a site's monitoring
// scrapes (firmware/daemon metrics.go).
type StatusEndpoint struct {
	// Listen is the address:port of the endpoint; "" turns it off. An
	// address other than loopback exposes the counters (no patient data)
	// to that network: use an admin-only interface.
	Listen string `yaml:"listen"`
}

func (s StatusEndpoint) check(c *checker) {
	if s.Listen == "" {
		return
	}
	host, port, err := net.SplitHostPort(s.Listen)
	if err == nil {
		_, err = netip.ParseAddr(host)
	}
	if err != nil {
		c.addf("status.listen", "status.listen %q is not an IP address and port (expected e.g. %s, or \"\" to turn the endpoint off)", s.Listen, DefaultStatusListen)
		return
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		c.addf("status.listen", "status.listen %q: port %q is not a TCP port (expected 1 to 65535; 9464 is usual)", s.Listen, port)
	}
}
