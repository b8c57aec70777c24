package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"metsentry/boards"
)

func TestBuiltInBoardsPass(t *testing.T) {
	names := boards.Names()
	for _, want := range []string{"jetson-agx-orin", "jetson-orin-nano", "sim", "x86-devkit"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Errorf("built-in board %s is missing (have %v)", want, names)
		}
	}
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			data, file, ok := boards.File(n)
			if !ok {
				t.Fatal("not found")
			}
			b, err := ParseBoard(file, data)
			if err != nil {
				t.Fatalf("board %s does not pass:\n%v", n, err)
			}
			if b.Name != n {
				t.Fatalf("board file %s names itself %q", file, b.Name)
			}
		})
	}
}

// replaceLine swaps the first line containing old for repl in a built-in board.
func mutate(t *testing.T, board, old, repl string) []byte {
	t.Helper()
	data, _, ok := boards.File(board)
	if !ok {
		t.Fatalf("no board %s", board)
	}
	s := string(data)
	if !strings.Contains(s, old) {
		t.Fatalf("board %s has no %q", board, old)
	}
	return []byte(strings.Replace(s, old, repl, 1))
}

func lineOf(data []byte, needle string) int {
	for i, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, needle) {
			return i + 1
		}
	}
	return 0
}

func TestBrokenBoards(t *testing.T) {
	for _, tc := range []struct {
		name, board, old, repl string
		wantMsg                string // substring of the single problem
		wantLineOf             string // the problem must point at the line holding this text
	}{
		{"unknown key", "sim", "  threads: 2", "  threads: 2\n  thread_count: 4", `unknown key "thread_count" in inference`, "thread_count"},
		{"unsupported baud", "x86-devkit", "/dev/ttyUSB0, baud: 115200", "/dev/ttyUSB0, baud: 9601", "serial.panel.baud 9601 is not a supported rate", "baud: 9601"},
		{"missing device path", "jetson-orin-nano", "  device: /dev/watchdog0", "  device: \"\"", "watchdog.device is missing", "device: \"\""},
		{"relative device path", "x86-devkit", "console: {device: /dev/ttyS0", "console: {device: ttyS0", `serial.console.device "ttyS0" is not an absolute path`, "ttyS0"},
		{"unknown provider", "jetson-agx-orin", "providers: [tensorrt, cuda, cpu]", "providers: [tensorrt, openvino, cpu]", `unknown provider "openvino"`, "openvino"},
		{"provider twice", "sim", "providers: [cpu]", "providers: [cpu, cpu]", `provider "cpu" is listed twice`, "providers"},
		{"bad led backend", "sim", "backend: panel", "backend: neon", `led.backend "neon" is not supported`, "neon"},
		{"gpio line missing", "jetson-agx-orin", "    green: PN.01\n", "", "led.gpio.green is missing", "gpio:"},
		{"thermal inverted", "x86-devkit", "critical_c: 98", "critical_c: 80", "thermal.critical_c 80 must be above throttle_c 85", "critical_c"},
		{"too many associations", "sim", "max_associations: 32", "max_associations: 5000", "limits.max_associations 5000 is out of range", "5000"},
		{"relative data dir", "sim", "data_dir: /var/lib/metsentry-sim", "data_dir: var/lib", `storage.data_dir "var/lib" must be an absolute path`, "data_dir"},
		{"wrong type", "sim", "threads: 2", "threads: two", `cannot read "two" here (expected a whole number)`, "threads: two"},
		{"bad arch", "sim", "arch: amd64", "arch: riscv", `arch "riscv" is not supported`, "riscv"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := mutate(t, tc.board, tc.old, tc.repl)
			_, err := ParseBoard("b.yaml", data)
			ps := AsProblems(err)
			if len(ps) != 1 {
				t.Fatalf("want exactly one problem, got %d:\n%v", len(ps), err)
			}
			p := ps[0]
			if !strings.Contains(p.Msg, tc.wantMsg) {
				t.Errorf("problem %q does not say %q", p, tc.wantMsg)
			}
			if want := lineOf(data, tc.wantLineOf); p.Line != want {
				t.Errorf("problem %q is on line %d, want %d", p, p.Line, want)
			}
			if !strings.HasPrefix(p.String(), "b.yaml:") || strings.Contains(p.String(), "\n") {
				t.Errorf("problem %q is not one `file:line: message` line", p)
			}
		})
	}
}

func TestSeveralProblemsAllReported(t *testing.T) {
	data := mutate(t, "sim", "baud: 115200}\n  console", "baud: 1}\n  console")
	data = []byte(strings.Replace(string(data), "threads: 2", "threads: 0", 1))
	data = []byte(strings.Replace(string(data), "name: sim", "name: sim\ncolour: blue", 1))
	_, err := ParseBoard("b.yaml", data)
	if ps := AsProblems(err); len(ps) != 3 {
		t.Fatalf("want 3 problems, got %d:\n%v", len(ps), err)
	}
}

const goodSite = `ae_title: METSENTRY
port: 11112
bind: 0.0.0.0
allowed_peers:
  - {ae_title: MRCONSOLE, address: 192.168.10.5}
  - {ae_title: MRCONSOLE2, address: 192.168.20.0/24}
destinations:
  - {name: pacs, ae_title: PACS, host: 192.168.10.9, port: 104, send: [seg, sr, sc]}
  - {name: console, ae_title: MRCONSOLE, host: 192.168.10.5, port: 104, send: [sc]}
completeness:
  quiet_period: 20s
  max_wait: 15m
  on_timeout: proceed
`

func TestSite(t *testing.T) {
	for _, tc := range []struct {
		name, old, repl, wantMsg, wantLineOf string
	}{
		{"good", "", "", "", ""},
		{"bad port", "port: 11112", "port: 70000", "port 70000 is not a TCP port", "70000"},
		{"duplicate destination name", "{name: console,", "{name: pacs,", `duplicate destination "pacs"`, "MRCONSOLE, host"},
		{"duplicate destination node", "{name: console, ae_title: MRCONSOLE, host: 192.168.10.5, port: 104", "{name: pacs2, ae_title: PACS, host: 192.168.10.9, port: 104", "duplicate destination: PACS@192.168.10.9:104", "pacs2"},
		{"long AE title", "ae_title: METSENTRY", "ae_title: METSENTRY-APPLIANCE", "is 19 characters long", "METSENTRY-APPLIANCE"},
		{"bad peer address", "address: 192.168.10.5}", "address: console.local}", "not an IP address or CIDR", "console.local"},
		{"unknown result kind", "send: [sc]", "send: [pdf]", `unknown result kind "pdf"`, "pdf"},
		{"unknown key", "on_timeout: proceed", "on_timeout: proceed\n  grace: 5s", `unknown key "grace" in completeness`, "grace"},
		{"bad duration", "max_wait: 15m", "max_wait: 5s", "completeness.max_wait 5s must be at least quiet_period", "max_wait"},
		{"bad action", "on_timeout: proceed", "on_timeout: wait", `on_timeout "wait" is not an action`, "on_timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := goodSite
			if tc.old != "" {
				if !strings.Contains(src, tc.old) {
					t.Fatalf("site has no %q", tc.old)
				}
				src = strings.Replace(src, tc.old, tc.repl, 1)
			}
			s, err := ParseSite("site.yaml", []byte(src))
			if tc.wantMsg == "" {
				if err != nil {
					t.Fatal(err)
				}
				if s.AETitle != "METSENTRY" || len(s.Destinations) != 2 || s.Completeness.QuietPeriod.Seconds() != 20 {
					t.Fatalf("decoded %+v", s)
				}
				return
			}
			ps := AsProblems(err)
			if len(ps) != 1 {
				t.Fatalf("want exactly one problem, got %d:\n%v", len(ps), err)
			}
			if !strings.Contains(ps[0].Msg, tc.wantMsg) {
				t.Errorf("problem %q does not say %q", ps[0], tc.wantMsg)
			}
			if want := lineOf([]byte(src), tc.wantLineOf); ps[0].Line != want {
				t.Errorf("problem %q is on line %d, want %d", ps[0], ps[0].Line, want)
			}
		})
	}
}

func TestSiteDefaults(t *testing.T) {
	s, err := ParseSite("s.yaml", []byte("ae_title: METSENTRY\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Port != DefaultPort || s.Completeness.QuietPeriod != DefaultQuietPeriod || s.Completeness.MaxWait != DefaultMaxWait {
		t.Fatalf("defaults not applied: %+v", s)
	}
}

func TestLoadMissingAndEmpty(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadBoard(filepath.Join(dir, "none.yaml"))
	if err == nil || !strings.Contains(err.Error(), "none.yaml: cannot read board file") {
		t.Fatalf("missing file: %v", err)
	}
	empty := filepath.Join(dir, "empty.yaml")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSite(empty); err == nil || !strings.Contains(err.Error(), "file is empty") {
		t.Fatalf("empty file: %v", err)
	}
	if _, err := ParseSite("s.yaml", []byte("ae_title: [unclosed\n")); err == nil || !strings.Contains(err.Error(), "s.yaml:") {
		t.Fatalf("syntax error: %v", err)
	}
}

func FuzzParseBoard(f *testing.F) {
	for _, n := range boards.Names() {
		data, _, _ := boards.File(n)
		f.Add(data)
	}
	f.Add([]byte(goodSite))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBoard("f.yaml", data)
		if err == nil && b == nil {
			t.Fatal("nil board without error")
		}
		for _, p := range AsProblems(err) {
			if strings.Contains(p.String(), "\n") && !strings.Contains(string(data), "\n") {
				t.Fatalf("multi-line problem %q", p)
			}
		}
		_, _ = ParseSite("f.yaml", data)
	})
}

func FuzzParseSite(f *testing.F) {
	f.Add([]byte(goodSite))
	if data, err := os.ReadFile(filepath.Join("..", "cmd", "metsentryd", "site.example.yaml")); err == nil {
		f.Add(data)
	}
	f.Add([]byte("ae_title: METSENTRY\ntls: {certificate: /a.crt, key: /a.key, require_client_certificate: true}\n"))
	f.Add([]byte("ae_title: X\nrules: {visible: {split: {enabled: true, attribute: echo_numbers, black: '(', bright: '^1$'}}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSite("f.yaml", data)
		if err == nil && s == nil {
			t.Fatal("nil site without error")
		}
		for _, p := range AsProblems(err) {
			if p.File != "f.yaml" {
				t.Fatalf("problem names file %q", p.File)
			}
		}
		if err == nil && CheckAETitle(s.AETitle) != "" {
			t.Fatalf("accepted a bad AE title %q", s.AETitle)
		}
	})
}
