package daemon

import (
	"context"
	"log/slog"

	"metsentry/firmware/config"
	"metsentry/firmware/panel"
	"metsentry/hal/serial"
)

// PanelService keeps the link to the front-panel MCU up (on the sim board,
// tools/panelsim's pty) and owns the panel's state machine, which the
// pipeline drives: receiving, analysing, positive with its count, negative,
// and faults with their codes.
type PanelService struct {
	// Machine is the panel state; give it to Intake.Panel.
	Machine *panel.Machine
	link    *panel.Link
}

// NewPanel returns the panel service for a board's serial.panel port. ctx
// bounds self-tests started from the panel's button.
func NewPanel(ctx context.Context, b *config.Board, open serial.Opener, log *slog.Logger) *PanelService {
	link := panel.NewLink(panel.LinkConfig{Device: b.Serial.Panel.Device, Baud: b.Serial.Panel.Baud, Open: open, Logger: log})
	p := &PanelService{link: link}
	p.Machine = panel.NewMachine(ctx, panel.MachineConfig{Displays: []panel.Display{link}, Logger: log})
	return p
}

// Name implements Service.
func (*PanelService) Name() string { return "panel" }

// Run implements Service: the link is kept up (reopened when the panel is
// unplugged or not there yet, never fatal) until ctx ends.
func (p *PanelService) Run(ctx context.Context) error {
	err := p.link.Run(ctx)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Status is the link's state for the service console.
func (p *PanelService) Status() panel.LinkStatus { return p.link.Status() }
