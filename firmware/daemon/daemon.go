package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"metsentry/firmware/config"
)

// Service is one long-running part of the daemon.
type Service interface {
	// Name identifies the service in logs and status.
	Name() string
	// Run works until ctx ends; it returns nil on a clean stop.
	Run(ctx context.Context) error
}

// Inference starts the inference runtime. main provides it (runtime/ is the
// only cgo in the firmware, so the daemon sees a function, not the package).
type Inference func(b *config.Board) (description string, err error)

// Options is what Run needs.
type Options struct {
	Board     *config.Board
	BoardFile string
	Site      *config.Site
	Log       *slog.Logger
	// Inference starts the runtime; nil means the runtime is not linked in.
	Inference Inference
	// Services are started after the checks, in order, and stopped together.
	Services []Service
	// Panel, when set, shows a runtime or model that failed to start as a
	// fault (faults.go).
	Panel Panel
}

// ErrNoInference is returned when the daemon is started without an inference runtime.
var ErrNoInference = errors.New("daemon: no inference runtime linked in")

// Run checks the board, starts the inference runtime and the services, and
// waits until ctx ends or a service fails. An inference runtime or model
// that fails to start is a panel fault (FaultRuntime when the error wraps
// ErrRuntime, else FaultModel), not an error: the services run without it,
// so the box answers C-ECHO and keeps what it receives, and ready jobs wait
// in the cache for a start with a working runtime and model.
func Run(ctx context.Context, o Options) error {
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	log.Info("metsentryd starting", "board", o.Board.Name, "ae_title", o.Site.AETitle,
		"port", o.Site.Port, "destinations", len(o.Site.Destinations))

	// Devices the board names but this machine lacks are faults to show, not
	// reasons to stop: the box must still answer C-ECHO and tell the engineer.
	for _, p := range config.ProbeBoard(o.BoardFile, o.Board) {
		log.Warn("board device missing", "problem", p.String())
	}

	if o.Inference == nil {
		return ErrNoInference
	}
	if desc, err := o.Inference(o.Board); err != nil {
		// The box must still answer C-ECHO and keep what it receives:
		// a fault, not a reason to stop (faults.go).
		inferenceFault(log, o.Panel, err)
	} else {
		log.Info("inference runtime ready", "runtime", desc)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, len(o.Services))
	for _, s := range o.Services {
		wg.Add(1)
		go func(s Service) {
			defer wg.Done()
			log.Info("service started", "service", s.Name())
			if err := s.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("daemon: %s: %w", s.Name(), err)
				cancel()
				return
			}
			log.Info("service stopped", "service", s.Name())
		}(s)
	}
	<-ctx.Done()
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	log.Info("metsentryd stopped")
	return nil
}
