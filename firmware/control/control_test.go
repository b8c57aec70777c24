package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// serve runs Serve on a fresh socket with h until the test ends.
func serve(t *testing.T, h Handler) string {
	t.Helper()
	path := SocketPath(t.TempDir())
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := Serve(ctx, ln, h, slog.New(slog.DiscardHandler)); err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return path
}

// A request gets its progress and text messages in order, then its result
// or the handler's error; an unknown request is the handler's to refuse.
func TestCall(t *testing.T) {
	h := func(_ context.Context, req Request, w *Writer) (any, error) {
		switch req.Cmd {
		case "count":
			for i := int64(1); i <= 3; i++ {
				w.Progress(i, 3, "step")
			}
			w.Text("done counting")
			return Echo{Destination: strings.Join(req.Args, "+")}, nil
		case "fail":
			return nil, errors.New("daemon: it broke")
		}
		return nil, fmt.Errorf("daemon: unknown %q", req.Cmd)
	}
	path := serve(t, h)
	for _, tc := range []struct {
		name     string
		req      Request
		wantMsgs []string
		want     string
		wantErr  string
	}{
		{"result and progress", Request{Cmd: "count", Args: []string{"a", "b"}}, []string{"1/3", "2/3", "3/3", "done counting"}, "a+b", ""},
		{"handler error", Request{Cmd: "fail"}, nil, "", "daemon: it broke"},
		{"unknown command", Request{Cmd: "nope"}, nil, "", `daemon: unknown "nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var msgs []string
			var got Echo
			err := Call(t.Context(), path, tc.req, func(m Message) {
				if m.Progress != nil {
					msgs = append(msgs, fmt.Sprintf("%d/%d", m.Progress.Done, m.Progress.Total))
				}
				if m.Text != "" {
					msgs = append(msgs, m.Text)
				}
			}, &got)
			if tc.wantErr != "" {
				var re *RemoteError
				if !errors.As(err, &re) || err.Error() != tc.wantErr {
					t.Fatalf("err %v; want remote error %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Destination != tc.want || fmt.Sprint(msgs) != fmt.Sprint(tc.wantMsgs) {
				t.Errorf("result %q, messages %v; want %q, %v", got.Destination, msgs, tc.want, tc.wantMsgs)
			}
		})
	}
}

// The socket is made with mode 0660 in a folder of its own; a stale socket
// file (a crash) is replaced, a live daemon's is not.
func TestListen(t *testing.T) {
	dir := t.TempDir()
	path := SocketPath(dir)
	os.MkdirAll(filepath.Dir(path), 0o750)
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close() // the file stays, nobody answers: a crashed daemon's
	ln, err := Listen(path)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	defer ln.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != SocketMode {
		t.Errorf("socket mode %v; want a socket with %v", fi.Mode(), SocketMode)
	}
	if _, err := Listen(path); !errors.Is(err, ErrInUse) {
		t.Errorf("second Listen: %v; want ErrInUse", err)
	}
}

// Without a daemon, Call says it is not running, whether the socket file
// is missing or stale; a refused permission says so, with what to do.
func TestCallErrors(t *testing.T) {
	dir := t.TempDir()
	stalePath := filepath.Join(dir, "stale.sock")
	ln, err := net.Listen("unix", stalePath)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	for _, tc := range []struct {
		name string
		path string
		want error
		hint string
	}{
		{"no socket file", filepath.Join(dir, "missing.sock"), ErrNotRunning, "systemctl start metsentry"},
		{"stale socket file", stalePath, ErrNotRunning, "systemctl start metsentry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Call(t.Context(), tc.path, Request{Cmd: CmdStatus}, nil, nil)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.hint) || !strings.Contains(err.Error(), tc.path) {
				t.Errorf("err %v; want %v naming the path and %q", err, tc.want, tc.hint)
			}
		})
	}
}

// Dial errors are told apart by their cause. (Tests run as root here, which
// the kernel lets through a socket's mode, so permission is checked on the
// error a non-member gets: EACCES from connect.)
func TestDialError(t *testing.T) {
	op := func(errno syscall.Errno) error {
		return &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", errno)}
	}
	for _, tc := range []struct {
		name string
		err  error
		want error
		hint string
	}{
		{"permission", op(syscall.EACCES), ErrPermission, "metsentry group"},
		{"refused", op(syscall.ECONNREFUSED), ErrNotRunning, "systemctl start"},
		{"missing", op(syscall.ENOENT), ErrNotRunning, "systemctl start"},
		{"other", op(syscall.ENAMETOOLONG), nil, "cannot reach"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := dialError("/x/control.sock", tc.err)
			if (tc.want != nil && !errors.Is(err, tc.want)) || (tc.want == nil && (errors.Is(err, ErrPermission) || errors.Is(err, ErrNotRunning))) {
				t.Errorf("dialError = %v; want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.hint) {
				t.Errorf("dialError = %v; want it to say %q", err, tc.hint)
			}
		})
	}
}

// A request line over MaxRequestBytes, or not JSON, is refused.
func TestBadRequest(t *testing.T) {
	path := serve(t, func(context.Context, Request, *Writer) (any, error) { return "ok", nil })
	for _, tc := range []struct {
		name, line, want string
	}{
		{"too long", `{"cmd":"` + strings.Repeat("a", MaxRequestBytes) + "\"}\n", "longer than"},
		{"not JSON", "status\n", "not JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			go c.Write([]byte(tc.line))
			buf := make([]byte, 4096)
			n, _ := c.Read(buf)
			if !strings.Contains(string(buf[:n]), tc.want) {
				t.Errorf("answer %q; want %q", buf[:n], tc.want)
			}
		})
	}
}

// AfterReply's functions run once the final message has reached the
// client, on success and on error alike: the client holds its reply before
// they start (one that ran first would wait for it in vain and say so).
func TestAfterReply(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fail    bool
		wantErr bool
	}{
		{"result", false, false},
		{"error", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			replied := make(chan struct{})
			ran := make(chan string, 1)
			path := serve(t, func(_ context.Context, _ Request, w *Writer) (any, error) {
				w.AfterReply(func() {
					select {
					case <-replied:
						ran <- "after the reply"
					case <-time.After(30 * time.Second):
						ran <- "before the client had its reply"
					}
				})
				if tc.fail {
					return nil, errors.New("daemon: it broke")
				}
				return Echo{Destination: "pacs"}, nil
			})
			var e Echo
			err := Call(t.Context(), path, Request{Cmd: "x"}, nil, &e)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Call: %v, want error %v", err, tc.wantErr)
			}
			close(replied)
			if got := <-ran; got != "after the reply" {
				t.Fatalf("AfterReply ran %s", got)
			}
		})
	}
}
