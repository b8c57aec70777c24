package config

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"
)

// Site is what the field engineer sets at installation.
type Site struct {
	AETitle      string        `yaml:"ae_title"`
	Port         int           `yaml:"port"`
	Bind         string        `yaml:"bind"`
	AllowedPeers []Peer        `yaml:"allowed_peers"`
	Destinations []Destination `yaml:"destinations"`
	Completeness Completeness  `yaml:"completeness"`
	Rules        Rules         `yaml:"rules"`     // site_rules.go
	Retention    Retention     `yaml:"retention"` // site_rules.go
	// TLS, when set, makes the SCP speak the DICOM TLS profile (tls.go).
	TLS *SiteTLS `yaml:"tls"`
	// Status is the Prometheus status endpoint (site_status.go).
	Status StatusEndpoint `yaml:"status"`
}

// Peer is a calling AE that may send studies, and the addresses it may come from.
type Peer struct {
	AETitle string `yaml:"ae_title"`
	Address string `yaml:"address"` // an IP address or a CIDR prefix
}

// Result kinds a destination may accept.
const (
	SendSEG = "seg"
	SendSR  = "sr"
	SendSC  = "sc"
)

// Destination is a DICOM node the results are sent to.
type Destination struct {
	Name    string   `yaml:"name"`
	AETitle string   `yaml:"ae_title"`
	Host    string   `yaml:"host"`
	Port    int      `yaml:"port"`
	Send    []string `yaml:"send"` // subset of seg, sr, sc
}

// Completeness holds the timers that decide when a series is complete.
type Completeness struct {
	QuietPeriod time.Duration `yaml:"quiet_period"`
	MaxWait     time.Duration `yaml:"max_wait"`
	OnTimeout   string        `yaml:"on_timeout"` // proceed or discard
}

// Defaults applied to keys left out of a site file.
const (
	DefaultPort        = 11112
	DefaultQuietPeriod = 20 * time.Second
	DefaultMaxWait     = 15 * time.Minute
)

// LoadSite reads and checks a site file.
func LoadSite(path string) (*Site, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Problems{{File: path, Msg: fmt.Sprintf("cannot read site file: %v", unwrapPathErr(err))}}
	}
	return ParseSite(path, data)
}

// ParseSite decodes and checks site file contents; name is used in problems.
func ParseSite(name string, data []byte) (*Site, error) {
	s := Site{Port: DefaultPort, Bind: "0.0.0.0", Completeness: Completeness{
		QuietPeriod: DefaultQuietPeriod, MaxWait: DefaultMaxWait, OnTimeout: "proceed"},
		Rules: DefaultRules(), Retention: DefaultRetention(), Status: StatusEndpoint{Listen: DefaultStatusListen}}
	root, ps := decode(name, data, &s, siteSection)
	if root == nil {
		return nil, ps
	}
	c := &checker{file: name, root: root, ps: ps}
	s.check(c)
	if len(c.ps) > 0 {
		return &s, c.ps
	}
	return &s, nil
}

func siteSection(typ string) string {
	return map[string]string{
		"config.Site": "", "config.Peer": " in an allowed peer", "config.Destination": " in a destination",
		"config.Completeness": " in completeness",
		"config.Rules":        " in rules", "config.VisibleRule": " in rules.visible", "config.T1Rule": " in rules.t1_fallback",
		"config.SeriesFilter": " in a rule filter", "config.SeriesMatch": " in a rule match", "config.Retention": " in retention",
		"config.SplitRule": " in rules.visible.split", "config.SiteTLS": " in tls", "config.StatusEndpoint": " in status",
	}[typ]
}

// CheckAETitle says what is wrong with an application entity title, or "" when
// it is valid: 1 to 16 characters of the DICOM default repertoire, no
// backslash, not only spaces (PS3.5 §6.2, VR AE).
func CheckAETitle(ae string) string {
	if strings.TrimSpace(ae) == "" {
		return "is empty (expected 1 to 16 characters, e.g. METSENTRY)"
	}
	if len(ae) > 16 {
		return fmt.Sprintf("is %d characters long (at most 16 are allowed)", len(ae))
	}
	for _, r := range ae {
		if r < 0x20 || r > 0x7e || r == '\\' {
			return fmt.Sprintf("contains %q (use printable ASCII without backslash)", r)
		}
	}
	return ""
}

func (s *Site) check(c *checker) {
	if m := CheckAETitle(s.AETitle); m != "" {
		c.addf("ae_title", "ae_title %q %s", s.AETitle, m)
	}
	if s.Port < 1 || s.Port > 65535 {
		c.addf("port", "port %d is not a TCP port (expected 1 to 65535; 104 or 11112 are usual)", s.Port)
	}
	if _, err := netip.ParseAddr(s.Bind); err != nil {
		c.addf("bind", "bind %q is not an IP address (expected e.g. 0.0.0.0 or 192.168.10.20)", s.Bind)
	}
	for i, p := range s.AllowedPeers {
		k := fmt.Sprintf("allowed_peers.%d", i)
		if m := CheckAETitle(p.AETitle); m != "" {
			c.addf(k+".ae_title", "allowed peer ae_title %q %s", p.AETitle, m)
		}
		if _, err := ParsePeerAddress(p.Address); err != nil {
			c.addf(k+".address", "allowed peer address %q is not an IP address or CIDR prefix (expected e.g. 192.168.10.5 or 192.168.10.0/24)", p.Address)
		}
	}
	names := map[string]int{}
	nodes := map[string]int{}
	for i, d := range s.Destinations {
		k := fmt.Sprintf("destinations.%d", i)
		if d.Name == "" {
			c.addf(k, "destination %d has no name (expected a short name, e.g. pacs)", i)
		} else if j, dup := names[d.Name]; dup {
			c.addf(k+".name", "duplicate destination %q (also destination %d; each name must be unique)", d.Name, j)
		} else {
			names[d.Name] = i
		}
		if m := CheckAETitle(d.AETitle); m != "" {
			c.addf(k+".ae_title", "destination ae_title %q %s", d.AETitle, m)
		}
		if d.Host == "" {
			c.addf(k+".host", "destination %q has no host (expected an IP address or host name)", d.Name)
		}
		if d.Port < 1 || d.Port > 65535 {
			c.addf(k+".port", "destination %q port %d is not a TCP port (expected 1 to 65535)", d.Name, d.Port)
		}
		node := fmt.Sprintf("%s@%s:%d", d.AETitle, d.Host, d.Port)
		if j, dup := nodes[node]; dup && d.Host != "" {
			c.addf(k, "duplicate destination: %s is also destination %d (list each node once)", node, j)
		} else {
			nodes[node] = i
		}
		if len(d.Send) == 0 {
			c.addf(k+".send", "destination %q sends nothing (expected send: [seg, sr, sc] or a subset)", d.Name)
		}
		for j, what := range d.Send {
			if !slices.Contains([]string{SendSEG, SendSR, SendSC}, what) {
				c.addf(fmt.Sprintf("%s.send.%d", k, j), "destination %q: unknown result kind %q (use seg, sr or sc)", d.Name, what)
			}
		}
	}
	cp := s.Completeness
	if cp.QuietPeriod < time.Second || cp.QuietPeriod > 10*time.Minute {
		c.addf("completeness.quiet_period", "completeness.quiet_period %v is out of range (expected 1s to 10m; 20s is usual)", cp.QuietPeriod)
	}
	if cp.MaxWait < cp.QuietPeriod || cp.MaxWait > 24*time.Hour {
		c.addf("completeness.max_wait", "completeness.max_wait %v must be at least quiet_period and at most 24h (15m is usual)", cp.MaxWait)
	}
	if cp.OnTimeout != "proceed" && cp.OnTimeout != "discard" {
		c.addf("completeness.on_timeout", "completeness.on_timeout %q is not an action (use proceed or discard)", cp.OnTimeout)
	}
	s.checkRules(c)
	if s.TLS != nil {
		s.TLS.check(c)
	}
	s.Status.check(c)
}

// ParsePeerAddress parses an allowed-peer address: a single IP or a CIDR prefix.
func ParsePeerAddress(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("config: %w", err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("config: %w", err)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
