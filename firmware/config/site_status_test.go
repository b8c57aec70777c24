package config

import (
	"strings"
	"testing"
)

// status.listen: loopback by default, off when empty, and an address that
// is not IP:port is a problem that says what is expected.
func TestSiteStatusListen(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want, problem string
	}{
		{"default", "", DefaultStatusListen, ""},
		{"off", "status: {listen: \"\"}\n", "", ""},
		{"admin interface", "status: {listen: 10.0.0.5:9100}\n", "10.0.0.5:9100", ""},
		{"a host name", "status: {listen: monitor:9464}\n", "", `status.listen "monitor:9464" is not an IP address and port`},
		{"no port", "status: {listen: 127.0.0.1}\n", "", "is not an IP address and port"},
		{"port out of range", "status: {listen: 127.0.0.1:70000}\n", "", `port "70000" is not a TCP port`},
		{"unknown key", "status: {port: 9464}\n", "", "port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSite("site.yaml", []byte("ae_title: METSENTRY\n"+tc.yaml))
			if tc.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tc.problem) {
					t.Fatalf("err %v; want a problem saying %q", err, tc.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Status.Listen != tc.want {
				t.Errorf("status.listen %q; want %q", s.Status.Listen, tc.want)
			}
		})
	}
}
