package console_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"metsentry/firmware/panel/console"
)

// lineRW feeds what a terminal typed and collects what the console sends.
type lineRW struct {
	in  *bytes.Reader
	out bytes.Buffer
}

func (l *lineRW) Read(p []byte) (int, error)  { return l.in.Read(p) }
func (l *lineRW) Write(p []byte) (int, error) { return l.out.Write(p) }

// FuzzServe types arbitrary bytes at the service console: it must not panic,
// must answer every line with a prompt, and must never echo patient data it
// holds in its log ring.
func FuzzServe(f *testing.F) {
	for _, s := range []string{
		"help\r\n", "status\r\nlog 5\r\n", "statuz\x7fs\r\n", "junk\x03bogus\n", "echo pacs\r\necho console\r\n",
		"temp\ndisk\nnet\nae\nversion\nselftest\n", "log 999999999999999999999\r", "reboot\r\n", "reboot yes\r\n",
		strings.Repeat("x", console.MaxLine+10) + "\r\n", "\x00\xff\x1b[A\r\n", "log -1\nlog abc\n",
	} {
		f.Add([]byte(s))
	}
	p := patient{name: "Fuzz^Patient^Q", id: "FZ-0042-ID", birth: "19510203"}
	f.Fuzz(func(t *testing.T, typed []byte) {
		c, _ := newConsole(t, p)
		rw := &lineRW{in: bytes.NewReader(typed)}
		if err := c.Serve(context.Background(), rw); err != nil {
			t.Fatalf("Serve on a line that ended: %v", err)
		}
		out := rw.out.String()
		lines := bytes.Count(typed, []byte{'\r'}) + bytes.Count(typed, []byte{'\n'}) - bytes.Count(typed, []byte{'\r', '\n'})
		if got := strings.Count(out, console.Prompt); got < 1 {
			t.Fatalf("no prompt in %q", out)
		} else if lines > 0 && got < 2 {
			t.Fatalf("%d lines typed, %d prompts", lines, got)
		}
		for _, v := range []string{p.name, p.id, p.birth} {
			if strings.Contains(out, v) {
				t.Fatalf("console output holds patient value %q", v)
			}
		}
	})
}
