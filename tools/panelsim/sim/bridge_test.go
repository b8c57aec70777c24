package sim

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestBridge(t *testing.T) {
	dir := t.TempDir()
	a, bl := filepath.Join(dir, "console"), filepath.Join(dir, "terminal")
	b, err := NewBridge(a, bl)
	if err != nil {
		t.Fatal(err)
	}
	fa, err := os.OpenFile(a, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	fb, err := os.OpenFile(bl, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	for _, c := range []struct {
		from, to *os.File
		msg      string
	}{{fb, fa, "status\r"}, {fa, fb, "state: idle\r\n\x00\xff"}} {
		if _, err := c.from.Write([]byte(c.msg)); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(c.msg))
		_ = c.to.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.ReadFull(c.to, got); err != nil || string(got) != c.msg {
			t.Fatalf("read %q, %v; want %q", got, err, c.msg)
		}
	}
	if err := b.Close(); err != nil {
		t.Log(err)
	}
	if _, err := os.Lstat(a); !os.IsNotExist(err) {
		t.Error("Close left the link")
	}
}
