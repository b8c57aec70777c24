package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// SocketMode is the socket's permission: the daemon's user and group.
const SocketMode os.FileMode = 0o660

// ErrInUse is returned by Listen when another daemon answers on the socket.
var ErrInUse = errors.New("control: another daemon is listening on the control socket")

// Listen creates the control socket at path (its folder 0750 if missing),
// replacing a stale socket file left by a crash, and sets its mode to
// SocketMode. It refuses (ErrInUse) when a live daemon answers there.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	if _, err := os.Lstat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%w: %s", ErrInUse, path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control: remove stale socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	if err := os.Chmod(path, SocketMode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control: %w", err)
	}
	return ln, nil
}

// Handler answers one request: it may report progress and text through w,
// and returns the result (marshalled to JSON) or an error.
type Handler func(ctx context.Context, req Request, w *Writer) (any, error)

// Writer sends a request's intermediate messages. A write error (the client
// went away) cancels the request's context.
type Writer struct {
	mu     sync.Mutex
	enc    *json.Encoder
	err    error
	cancel context.CancelFunc
	after  []func()
}

// AfterReply runs f once the request's final message has been sent (or
// could not be), e.g. to stop the daemon after telling the client it will.
func (w *Writer) AfterReply(f func()) {
	w.mu.Lock()
	w.after = append(w.after, f)
	w.mu.Unlock()
}

func (w *Writer) send(m Message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if w.err = w.enc.Encode(m); w.err != nil {
		w.cancel()
	}
	return w.err
}

// Progress reports done of total (total -1 when unknown).
func (w *Writer) Progress(done, total int64, what string) {
	_ = w.send(Message{Progress: &Progress{Done: done, Total: total, What: what}})
}

// Text sends a line for the engineer to read.
func (w *Writer) Text(s string) { _ = w.send(Message{Text: s}) }

// Serve answers requests on ln until ctx ends, each connection in its own
// goroutine; it closes ln and waits for the open requests before returning.
func Serve(ctx context.Context, ln net.Listener, h Handler, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("control: accept: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			serveConn(ctx, c, h, log)
		}()
	}
}

func serveConn(ctx context.Context, c net.Conn, h Handler, log *slog.Logger) {
	defer c.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	w := &Writer{enc: json.NewEncoder(c), cancel: cancel}
	req, err := readRequest(c)
	if err != nil {
		_ = w.send(Message{Final: true, Error: err.Error()})
		return
	}
	log.Info("control: request", "cmd", req.Cmd)
	res, err := h(ctx, req, w)
	final := Message{Final: true}
	if err == nil {
		final.Result, err = json.Marshal(res)
	}
	if err != nil {
		log.Warn("control: request failed", "cmd", req.Cmd, "err", err)
		final.Error, final.Result = err.Error(), nil
	}
	_ = w.send(final)
	w.mu.Lock()
	after := w.after
	w.mu.Unlock()
	for _, f := range after {
		f()
	}
}

// readRequest reads one bounded request line.
func readRequest(r io.Reader) (Request, error) {
	line, err := bufio.NewReader(io.LimitReader(r, MaxRequestBytes+1)).ReadBytes('\n')
	if len(line) > MaxRequestBytes {
		return Request{}, fmt.Errorf("control: request longer than %d bytes", MaxRequestBytes)
	}
	if err != nil {
		return Request{}, fmt.Errorf("control: read request: %w", err)
	}
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		return Request{}, fmt.Errorf("control: request is not JSON: %w", err)
	}
	return req, nil
}
