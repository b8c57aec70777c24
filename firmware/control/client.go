package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
)

// Errors Call returns when it cannot reach the daemon.
var (
	// ErrNotRunning: no daemon listens on the socket (no socket file, or a
	// stale one).
	ErrNotRunning = errors.New("control: the daemon is not running")
	// ErrPermission: the socket exists but this user may not open it.
	ErrPermission = errors.New("control: permission denied on the control socket")
)

// RemoteError is an error the daemon answered a request with.
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return e.Msg }

// Call sends req to the daemon at the socket path, passes every
// intermediate message to each (which may be nil) and unmarshals the
// final result into out (which may be nil).
func Call(ctx context.Context, path string, req Request, each func(Message), out any) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return dialError(path, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	if _, err := c.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("control: send request: %w", err)
	}
	dec := json.NewDecoder(bufio.NewReader(c))
	for {
		var m Message
		if err := dec.Decode(&m); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("control: %w", ctx.Err())
			}
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("control: the daemon closed the connection before answering (see its log: journalctl -u metsentry)")
			}
			return fmt.Errorf("control: read answer: %w", err)
		}
		if !m.Final {
			if each != nil {
				each(m)
			}
			continue
		}
		if m.Error != "" {
			return &RemoteError{Msg: m.Error}
		}
		if out != nil {
			if err := json.Unmarshal(m.Result, out); err != nil {
				return fmt.Errorf("control: answer to %s: %w", req.Cmd, err)
			}
		}
		return nil
	}
}

// dialError says why the socket could not be opened and what to do.
func dialError(path string, err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w: nothing answers on %s (start it: sudo systemctl start metsentry; or give --socket)", ErrNotRunning, path)
	case errors.Is(err, os.ErrPermission), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("%w: %s (run metctl with sudo, or add yourself to the metsentry group: sudo adduser $USER metsentry, then log in again)", ErrPermission, path)
	}
	return fmt.Errorf("control: cannot reach the daemon at %s: %w", path, err)
}
