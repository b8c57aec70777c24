package panel_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"metsentry/firmware/panel"
)

type printer struct{}

func (printer) Show(v panel.View) error {
	fmt.Printf("%-10v %q\n", v.Show, v.Text)
	return nil
}

// The daemon drives the machine with what happens to a study; every change is
// shown on the displays (in the appliance, a panel.Link to the MCU).
func ExampleMachine() {
	m := panel.NewMachine(context.Background(), panel.MachineConfig{Displays: []panel.Display{printer{}}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	m.Receiving()
	m.Processing()
	m.Result(2)
	m.SetFault(panel.FaultThermal, true)
	m.SetFault(panel.FaultThermal, false)
	m.Button(panel.Button{ID: panel.ButtonAck})
	// Output:
	// idle       "READY"
	// receiving  "RECEIVING"
	// processing "ANALYSING"
	// positive   "POSITIVE: 2 LESIONS"
	// fault      "FAULT E0501"
	// positive   "POSITIVE: 2 LESIONS"
	// idle       "READY"
}
