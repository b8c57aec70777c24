package daemon

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"metsentry/boards"
	"metsentry/firmware/config"
)

type fakeService struct {
	name    string
	err     error
	started chan struct{}
}

func (f *fakeService) Name() string { return f.name }
func (f *fakeService) Run(ctx context.Context) error {
	close(f.started)
	if f.err != nil {
		return f.err
	}
	<-ctx.Done()
	return nil
}

func simOptions(t *testing.T) Options {
	t.Helper()
	data, file, _ := boards.File("sim")
	b, err := config.ParseBoard(file, data)
	if err != nil {
		t.Fatal(err)
	}
	s, err := config.ParseSite("site.yaml", []byte("ae_title: METSENTRY\n"))
	if err != nil {
		t.Fatal(err)
	}
	return Options{Board: b, BoardFile: file, Site: s, Log: slog.New(slog.DiscardHandler),
		Inference: func(*config.Board) (string, error) { return "fake cpu", nil }}
}

func TestRunStopsCleanly(t *testing.T) {
	o := simOptions(t)
	svc := &fakeService{name: "a", started: make(chan struct{})}
	o.Services = []Service{svc}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- Run(ctx, o) }()
	<-svc.started
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
}

func TestRunFailingServiceStopsAll(t *testing.T) {
	o := simOptions(t)
	boom := errors.New("boom")
	a := &fakeService{name: "a", started: make(chan struct{})}
	b := &fakeService{name: "b", err: boom, started: make(chan struct{})}
	o.Services = []Service{a, b}
	err := Run(context.Background(), o)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
}

func TestRunNeedsInference(t *testing.T) {
	o := simOptions(t)
	o.Inference = nil
	if err := Run(context.Background(), o); !errors.Is(err, ErrNoInference) {
		t.Fatalf("err = %v", err)
	}
}
