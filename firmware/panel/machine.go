package panel

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
)

// View is what the front panel shows: an indication with its count or fault
// code, and the display line. Views are built only by Machine from counts and
// codes, so no patient data can reach the panel.
type View struct {
	Show  Indication
	Count uint8  // lesions, for Positive (255 = 255 or more)
	Code  uint16 // fault code, for Fault
	Text  string // display line; printable ASCII, at most MaxText bytes
}

// Display is anything that can show a View: the panel MCU through Link, or
// LEDs driven directly (LEDDisplay).
type Display interface {
	Show(v View) error
}

// Fault codes shown on the panel (Fault indication) and in `status`. The high
// byte is the subsystem, so a field engineer can read the code from a chart.
const (
	FaultInternal       uint16 = 0x0101 // a service stopped unexpectedly
	FaultStorage        uint16 = 0x0201 // the cache or data disk failed or is full
	FaultModel          uint16 = 0x0301 // the model failed to load or verify
	FaultInference      uint16 = 0x0302 // inference failed on a study
	FaultRuntime        uint16 = 0x0303 // the inference runtime (ONNX Runtime) is missing or the wrong version
	FaultNetwork        uint16 = 0x0401 // a DICOM peer cannot be reached
	FaultDelivery       uint16 = 0x0402 // results could not be delivered (dead letter)
	FaultThermal        uint16 = 0x0501 // a thermal zone is above its critical limit
	FaultSelfTest       uint16 = 0x0601 // the self-test failed
	FaultPanelLink      uint16 = 0x0701 // shown by the panel itself when the host is silent
	FaultWatchdogReboot uint16 = 0x0801 // the last boot was caused by the watchdog
)

// Machine is the front-panel state machine. The daemon tells it what happens
// (a study arrives, is processed, has a result; a fault comes or goes); the
// panel's buttons acknowledge and start a self-test. Every change is shown on
// all Displays. An active fault outranks everything else; a result stays until
// it is acknowledged or the next study starts. Machine is safe for concurrent
// use.
type Machine struct {
	cfg MachineConfig

	mu      sync.Mutex
	base    View // what shows when there is no fault and no self-test
	faults  map[uint16]bool
	testing bool
	shown   View
	ctx     context.Context
}

// MachineConfig sets up a Machine.
type MachineConfig struct {
	// Displays show every change: a Link to the panel MCU, LEDs, or both.
	Displays []Display
	// SelfTest runs the self-test when the button is pressed; nil means the
	// button only shows the self-test lights. A failed self-test raises
	// FaultSelfTest until the next successful one.
	SelfTest func(ctx context.Context) error
	// Logger logs state changes; nil means slog.Default().
	Logger *slog.Logger
}

// NewMachine returns a machine showing Idle on the displays. ctx bounds
// self-tests started from the panel.
func NewMachine(ctx context.Context, cfg MachineConfig) *Machine {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m := &Machine{cfg: cfg, base: view(Idle, 0, 0), faults: map[uint16]bool{}, ctx: ctx}
	m.mu.Lock()
	m.update()
	m.mu.Unlock()
	return m
}

// Receiving: a study is arriving.
func (m *Machine) Receiving() { m.setBase(view(Receiving, 0, 0)) }

// Processing: the study is complete and being analysed.
func (m *Machine) Processing() { m.setBase(view(Processing, 0, 0)) }

// Result shows the outcome of a study: Positive with the lesion count when
// lesions > 0, otherwise Negative.
func (m *Machine) Result(lesions int) {
	switch {
	case lesions <= 0:
		m.setBase(view(Negative, 0, 0))
	case lesions >= 255:
		m.setBase(view(Positive, 255, 0))
	default:
		m.setBase(view(Positive, uint8(lesions), 0))
	}
}

// Idle: nothing to show; ready for the next study.
func (m *Machine) Idle() { m.setBase(view(Idle, 0, 0)) }

// SetFault raises (on) or clears a fault by its code.
func (m *Machine) SetFault(code uint16, on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if on {
		m.faults[code] = true
	} else {
		delete(m.faults, code)
	}
	m.update()
}

// Faults returns the active fault codes, sorted.
func (m *Machine) Faults() []uint16 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.faultList()
}

// Current returns what the panel shows now.
func (m *Machine) Current() View {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.shown
}

// Button handles a press from the panel: acknowledge returns a shown result
// to Idle; self-test runs SelfTest with the self-test lights on.
func (m *Machine) Button(b Button) {
	switch b.ID {
	case ButtonAck:
		m.mu.Lock()
		if m.base.Show == Positive || m.base.Show == Negative {
			m.base = view(Idle, 0, 0)
			m.update()
		}
		m.mu.Unlock()
	case ButtonSelfTest:
		m.mu.Lock()
		if m.testing {
			m.mu.Unlock()
			return
		}
		m.testing = true
		m.update()
		m.mu.Unlock()
		go m.runSelfTest()
	}
}

func (m *Machine) runSelfTest() {
	var err error
	if m.cfg.SelfTest != nil {
		err = m.cfg.SelfTest(m.ctx)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.testing = false
	if err != nil {
		m.logger().Warn("panel: self-test failed", "err", err)
		m.faults[FaultSelfTest] = true
	} else {
		delete(m.faults, FaultSelfTest)
	}
	m.update()
}

func (m *Machine) setBase(v View) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.base = v
	m.update()
}

func (m *Machine) faultList() []uint16 {
	var codes []uint16
	for c := range m.faults {
		codes = append(codes, c)
	}
	sort.Slice(codes, func(i, j int) bool { return codes[i] < codes[j] })
	return codes
}

func (m *Machine) logger() *slog.Logger { return m.cfg.Logger }

// update recomputes the shown view and pushes it to every display; m.mu held.
func (m *Machine) update() {
	v := m.base
	if codes := m.faultList(); len(codes) > 0 {
		// The lowest code is shown: codes are ordered so that lower
		// subsystems (internal, storage) are the ones to fix first.
		v = view(Fault, 0, codes[0])
	}
	if m.testing {
		v = view(SelfTest, 0, 0)
	}
	if v == m.shown {
		return
	}
	m.shown = v
	m.logger().Info("panel: show", "indication", v.Show.String(), "count", v.Count, "code", fmt.Sprintf("%04X", v.Code))
	for _, d := range m.cfg.Displays {
		if err := d.Show(v); err != nil {
			m.logger().Warn("panel: display failed", "err", err)
		}
	}
}

// view builds a View with its display line.
func view(show Indication, count uint8, code uint16) View {
	v := View{Show: show, Count: count, Code: code}
	switch show {
	case Idle:
		v.Text = "READY"
	case Receiving:
		v.Text = "RECEIVING"
	case Processing:
		v.Text = "ANALYSING"
	case Positive:
		n := fmt.Sprint(count)
		if count == 255 {
			n = "255+"
		}
		if count == 1 {
			v.Text = "POSITIVE: 1 LESION"
		} else {
			v.Text = "POSITIVE: " + n + " LESIONS"
		}
	case Negative:
		v.Text = "NEGATIVE: NO LESION"
	case Fault:
		v.Text = fmt.Sprintf("FAULT E%04X", code)
	case SelfTest:
		v.Text = "SELF-TEST"
	}
	return v
}
