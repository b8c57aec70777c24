package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"metsentry/firmware/cache"
	"metsentry/firmware/dimse"
	"metsentry/firmware/panel"
)

// LockedRetry is how often Intake tries again to open a cache another
// process holds (each try also waits cache.Options.OpenTimeout for the lock).
var LockedRetry = 5 * time.Second

// errCacheLocked is what the standby SCP answers a C-STORE with (A700).
var errCacheLocked = fmt.Errorf("%w: daemon: the cache is locked by another process", dimse.ErrOutOfResources)

// lockedStorage refuses every instance while the cache cannot be opened:
// A700, so the sender keeps the instance and sends it again later.
type lockedStorage struct{}

func (lockedStorage) CreateTemp() (*os.File, error) { return nil, errCacheLocked }
func (lockedStorage) Store(_ context.Context, f *os.File, _ dimse.Instance) error {
	f.Close()
	os.Remove(f.Name())
	return errCacheLocked
}

// openCache opens the cache. While another process holds its database (a
// second daemon, a tool left running, a backup holding the file), it does
// not give up: the panel shows FaultStorage, the log says so once, and an
// SCP in standby answers on the site's address (C-ECHO answered, C-STORE
// refused with A700, so nothing is acknowledged that is not kept) until the
// lock is released, ctx ends, or Open fails another way.
func (s *Intake) openCache(ctx context.Context, log *slog.Logger, opt cache.Options) (*cache.Store, error) {
	store, err := cache.Open(s.Board.Storage.DataDir, opt)
	if !errors.Is(err, cache.ErrLocked) {
		return store, err
	}
	log.Error("daemon: the cache is locked by another process: C-ECHO is answered, C-STORE refused (A700) until it is released",
		"fault", fmt.Sprintf("E%04X", panel.FaultStorage), "data_dir", s.Board.Storage.DataDir, "err", err)
	s.setFault(err)
	if s.Panel != nil {
		s.Panel.SetFault(panel.FaultStorage, true)
	}
	stop, serr := s.standby(log)
	if serr != nil {
		log.Error("daemon: standby SCP", "err", serr)
	}
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	t := time.NewTicker(LockedRetry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
		store, err = cache.Open(s.Board.Storage.DataDir, opt)
		if errors.Is(err, cache.ErrLocked) {
			continue
		}
		if err == nil {
			log.Info("daemon: the cache lock was released; receiving again")
			s.setFault(nil)
			if s.Panel != nil {
				s.Panel.SetFault(panel.FaultStorage, false)
			}
		}
		return store, err
	}
}

func (s *Intake) setFault(err error) {
	s.mu.Lock()
	s.fault = err
	s.mu.Unlock()
}

// standby serves the SCP with lockedStorage on the site's address and
// returns what stops it.
func (s *Intake) standby(log *slog.Logger) (stop func(), err error) {
	pol, err := dimse.PolicyFromConfig(s.Site, s.Board)
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(s.Site.Bind, strconv.Itoa(s.Site.Port)))
	if err != nil {
		return nil, fmt.Errorf("daemon: standby: %w", err)
	}
	srv := &dimse.Server{Policy: pol, Storage: lockedStorage{}, Logger: log}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(context.Background(), ln) }() //nolint:errcheck // ends at Shutdown
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx) //nolint:errcheck // remaining associations are aborted
		<-done
	}, nil
}
