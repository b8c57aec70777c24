//go:build linux

package serial_test

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/creack/pty"

	"metsentry/hal/serial"
)

func TestOpenOnAPseudoTerminal(t *testing.T) {
	master, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	p, err := serial.Open(tty.Name(), 115200)
	tty.Close() // our own handle: only the port holds the slave now
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.String() != tty.Name()+"@115200" {
		t.Errorf("String = %q", p.String())
	}
	// Raw mode: every byte value passes unchanged both ways.
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	if _, err := p.Write(all); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 256)
	if _, err := io.ReadFull(master, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, all) {
		t.Errorf("master read % x", got)
	}
	if _, err := master.Write(all); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(p, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, all) {
		t.Errorf("port read % x", got)
	}

	// Unplugging (the master closes) makes a pending Read fail.
	errc := make(chan error, 1)
	go func() {
		_, err := p.Read(make([]byte, 16))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the Read block first
	master.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Error("Read after hang-up returned no error")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Read did not return within 2s of the hang-up")
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	master, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	defer tty.Close()
	p, err := serial.Open(tty.Name(), 9600)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := p.Read(make([]byte, 16))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := p.Halt(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, serial.ErrClosed) {
			t.Errorf("Read after Halt = %v, want ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Halt did not unblock Read")
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestOpenFails(t *testing.T) {
	tests := []struct{ name, dev string }{
		{"missing", "/dev/metsentry-no-such-tty"},
		{"not a tty", "/dev/null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p, err := serial.Open(tt.dev, 115200); err == nil {
				p.Close()
				t.Fatalf("Open(%s) succeeded", tt.dev)
			}
		})
	}
}
