package update_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"metsentry/firmware/bundle"
	"metsentry/firmware/update"
	"metsentry/runtime/trust"
)

// What the daemon does for `metctl model install <bundle>`: verify, install
// into the slot not in use, self-test with the new slot's own binary, roll
// back on failure, and tell the engineer which of these happened.
func ExampleSlots_Install() {
	store, err := trust.LoadStore("/usr/share/metsentry/models/trust")
	if err != nil {
		fmt.Println(err)
		return
	}
	slots := &update.Slots{
		Root:     "/var/lib/metsentry/slots",
		Store:    store,
		SelfTest: update.ExecSelfTest(update.DaemonArgs("jetson-orin-nano", "/usr/share/metsentry/models/trust"), 10*time.Minute),
		Progress: func(step string) { fmt.Println("..." + step) },
	}
	res, err := slots.Install(context.Background(), "/media/usb/metsentry-1.4.0.bundle")
	switch {
	case errors.Is(err, bundle.ErrUntrusted), errors.Is(err, bundle.ErrAltered):
		fmt.Println("refused, nothing installed:", err)
	case errors.Is(err, update.ErrRolledBack):
		fmt.Println("installed, failed its self-test, rolled back:", err)
	case err != nil:
		fmt.Println(err)
	default:
		fmt.Printf("%s installed in slot %s (was %s)\n", res.Version, res.Slot, res.PreviousVersion)
	}
}
