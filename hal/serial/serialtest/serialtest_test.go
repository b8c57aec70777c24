package serialtest

import (
	"errors"
	"io"
	"testing"

	"metsentry/hal/serial"
)

func TestPipe(t *testing.T) {
	a, b := Pipe("a", "b")
	if _, err := a.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(b, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("read %q, %v", buf, err)
	}
	if string(a.Written()) != "hello" {
		t.Errorf("Written = %q", a.Written())
	}
	a.WriteErr = errors.New("cable cut")
	if _, err := a.Write([]byte("x")); err == nil {
		t.Error("Write with WriteErr succeeded")
	}
	done := make(chan error)
	go func() {
		_, err := b.Read(buf)
		done <- err
	}()
	a.Close()
	if err := <-done; !errors.Is(err, serial.ErrClosed) {
		t.Errorf("Read after the peer closed = %v", err)
	}
	if !b.Closed() {
		t.Error("closing one end did not close the other")
	}
	if err := b.Halt(); err != nil || !b.Halted() {
		t.Error("Halt")
	}
}
