package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestProbeDataDir(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	existing := filepath.Join(base, "existing")
	if err := os.Mkdir(existing, 0o750); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dir string
		want      string // "" for no problem
		leftAfter bool   // the folder exists after the probe
	}{
		{"existing folder", existing, "", true},
		{"folder to create", filepath.Join(base, "new", "cache"), "", false},
		{"under a file", filepath.Join(file, "cache"), "storage.data_dir " + filepath.Join(file, "cache") + " cannot hold the cache: not a directory", false},
		{"a file", file, "cannot hold the cache", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := probeDataDir("board.yaml", tt.dir)
			switch {
			case tt.want == "" && len(ps) != 0:
				t.Errorf("problems %v, want none", ps)
			case tt.want != "" && (len(ps) != 1 || !strings.Contains(ps[0].Msg, tt.want)):
				t.Errorf("problems %v, want one containing %q", ps, tt.want)
			}
			if _, err := os.Stat(tt.dir); (err == nil) != tt.leftAfter {
				t.Errorf("after the probe %s exists: %v, want %v", tt.dir, err == nil, tt.leftAfter)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(base, "new")); err == nil {
		t.Errorf("the probe left the folder it created")
	}
	entries, _ := os.ReadDir(existing)
	if len(entries) != 0 {
		t.Errorf("the probe left %d files in the data folder", len(entries))
	}
}

func TestProbeSite(t *testing.T) {
	tests := []struct {
		bind string
		want string
	}{
		{"127.0.0.1", ""},
		{"0.0.0.0", ""},
		// TEST-NET-1 (RFC 5737): never an address of this machine.
		{"192.0.2.7", "bind 192.0.2.7 is not an address this machine can listen on"},
	}
	for _, tt := range tests {
		t.Run(tt.bind, func(t *testing.T) {
			ps := ProbeSite("site.yaml", &Site{Bind: tt.bind})
			switch {
			case tt.want == "" && len(ps) != 0:
				t.Errorf("problems %v, want none", ps)
			case tt.want != "" && (len(ps) != 1 || !strings.Contains(ps[0].Msg, tt.want)):
				t.Errorf("problems %v, want one containing %q", ps, tt.want)
			}
		})
	}
}
