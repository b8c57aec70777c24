package outbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"time"

	"metsentry/firmware/config"
	"metsentry/firmware/dimse"
)

// DimseSender sends files with C-STORE over firmware/dimse: one association
// per Send, proposing the SOP classes of the files (each in the transfer
// syntax it is stored in).
type DimseSender struct {
	Dialer    dimse.Dialer
	CallingAE string
	// Timeout bounds one whole Send; 0 means 5 minutes.
	Timeout time.Duration
}

var _ Sender = (*DimseSender)(nil)

// Send implements Sender. A file whose SOP class the destination did not
// accept is reported with an error wrapping ErrRefused.
func (s *DimseSender) Send(ctx context.Context, dest config.Destination, files []string) ([]Result, error) {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var classes []string
	for _, f := range files {
		sop, err := sopClass(f)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(classes, sop) {
			classes = append(classes, sop)
		}
	}
	addr := net.JoinHostPort(dest.Host, strconv.Itoa(dest.Port))
	a, err := s.Dialer.Dial(ctx, addr, s.CallingAE, dest.AETitle, dimse.StorageContexts(classes...)...)
	if err != nil {
		var rj *dimse.RejectError
		if errors.As(err, &rj) && rj.Result == dimse.RejectPermanent {
			return nil, fmt.Errorf("%w: %s: %w", ErrPermanent, dest.Name, err)
		}
		return nil, fmt.Errorf("outbox: %s: %w", dest.Name, err)
	}
	var res []Result
	for _, f := range files {
		err := a.StoreFile(ctx, f)
		switch {
		case err == nil:
			res = append(res, Result{Path: f})
		case errors.Is(err, dimse.ErrNoContext):
			res = append(res, Result{Path: f, Err: fmt.Errorf("%w: %w", ErrRefused, err)})
		default:
			var se *dimse.StatusError
			if errors.As(err, &se) {
				// The peer answered: the association still stands.
				if PermanentStatus(se.Status) {
					err = fmt.Errorf("%w: %w", ErrPermanent, err)
				}
				res = append(res, Result{Path: f, Err: err})
				continue
			}
			a.Abort()
			return res, fmt.Errorf("outbox: %s: %w", dest.Name, err)
		}
	}
	// Every file was answered; a failed release loses nothing.
	_ = a.Release(ctx)
	return res, nil
}

// sopClass reads a Part 10 file's Media Storage SOP Class UID.
func sopClass(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("outbox: %w", err)
	}
	defer f.Close()
	m, err := dimse.ReadFileMeta(bufio.NewReader(f))
	if err != nil {
		return "", fmt.Errorf("outbox: %s: %w", path, err)
	}
	return m.SOPClassUID, nil
}

// PermanentStatus reports whether a C-STORE failure status means the
// destination will not take the object however often it is sent: 0xA7xx
// (refused: out of resources), 0xA9xx (data set does not match SOP class)
// and 0xCxxx (cannot understand). Other failures are retried.
func PermanentStatus(status uint16) bool {
	return status>>8 == 0xA7 || status>>8 == 0xA9 || status>>12 == 0xC
}
