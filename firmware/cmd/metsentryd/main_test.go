package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"metsentry/boards"
)

func TestCheckEveryBoard(t *testing.T) {
	for _, name := range boards.Names() {
		t.Run(name, func(t *testing.T) {
			var out, errb bytes.Buffer
			root := filepath.Join("..", "..", "..")
			code := run(context.Background(), []string{"--check", "--board", filepath.Join(root, "boards", name+".yaml"),
				"--site", "site.example.yaml"}, &out, &errb)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			if !strings.Contains(out.String(), ": ok") {
				t.Fatalf("stdout %q", out.String())
			}
		})
	}
}

func TestCheckBrokenFilesOneLinePerProblem(t *testing.T) {
	dir := t.TempDir()
	board, _, _ := boards.File("sim")
	broken := strings.Replace(string(board), "baud: 115200}\n  console", "baud: 9601}\n  console", 1)
	broken = strings.Replace(broken, "providers: [cpu]", "providers: [npu, cpu]", 1)
	broken = strings.Replace(broken, "name: sim", "name: sim\nleds: 3", 1)
	bf := filepath.Join(dir, "broken.yaml")
	if err := os.WriteFile(bf, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	sf := filepath.Join(dir, "site.yaml")
	site := "ae_title: METSENTRY\nport: 0\ndestinations:\n  - {name: a, ae_title: A, host: h, port: 104, send: [sr]}\n  - {name: a, ae_title: B, host: h, port: 104, send: [sr]}\n"
	if err := os.WriteFile(sf, []byte(site), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"--check", "--board", bf, "--site", sf}, &out, &errb)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
	want := []string{
		bf + ":4: unknown key \"leds\"",
		bf + ":8: serial.panel.baud 9601 is not a supported rate",
		bf + ":18: unknown provider \"npu\"",
		sf + ":2: port 0 is not a TCP port",
		sf + ":5: duplicate destination \"a\"",
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), errb.String())
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], want[i])
		}
	}
}

func TestCheckUnknownBuiltIn(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--check", "--board", "raspberry"}, &out, &errb); code != 1 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(errb.String(), `no built-in board "raspberry"`) {
		t.Fatalf("stderr %q", errb.String())
	}
}

func TestProbeReportsMissingDevices(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"--check", "--probe", "--board", "jetson-orin-nano"}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "serial.panel.device /dev/ttyTHS1 is not present on this machine") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
}

func TestRunNeedsSite(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--board", "sim"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "--site is required") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
}
