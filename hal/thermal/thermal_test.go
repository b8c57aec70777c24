package thermal_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"metsentry/firmware/panel"
	"metsentry/hal/clock/clocktest"
	"metsentry/hal/thermal"
	"metsentry/hal/thermal/thermaltest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestMonitorThrottlesAndFaults(t *testing.T) {
	cpu := &thermaltest.Zone{ZoneName: "cpu-thermal"}
	gpu := &thermaltest.Zone{ZoneName: "gpu-thermal"}
	// The panel state machine is what the technologist sees; the fault
	// callback is wired to it as the daemon does.
	m := panel.NewMachine(context.Background(), panel.MachineConfig{Logger: quiet})
	var throttles []bool
	mon, err := thermal.NewMonitor(thermal.Config{
		Zones: []thermal.Zone{cpu, gpu}, ThrottleC: 85, CriticalC: 99, Logger: quiet,
		Throttle: func(on bool) { throttles = append(throttles, on) },
		Fault:    func(on bool) { m.SetFault(panel.FaultThermal, on) },
	})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name      string
		cpu, gpu  float64
		level     thermal.Level
		throttled bool
		panel     panel.Indication
	}{
		{"cool", 50, 48, thermal.Normal, false, panel.Idle},
		{"gpu over throttle", 60, 86, thermal.Throttle, true, panel.Idle},
		{"just below throttle: hysteresis holds", 60, 84, thermal.Throttle, true, panel.Idle},
		{"over critical", 60, 99.5, thermal.Critical, true, panel.Fault},
		{"below critical within hysteresis", 60, 97, thermal.Critical, true, panel.Fault},
		{"cooled below critical", 60, 95, thermal.Throttle, true, panel.Idle},
		{"cooled below throttle", 60, 81, thermal.Normal, false, panel.Idle},
		{"straight to critical", 100, 81, thermal.Critical, true, panel.Fault},
		{"straight back to normal", 40, 40, thermal.Normal, false, panel.Idle},
	}
	for _, s := range steps {
		cpu.Set(s.cpu)
		gpu.Set(s.gpu)
		r := mon.Check()
		if r.Level != s.level || mon.Throttled() != s.throttled {
			t.Errorf("%s: level %v throttled %v, want %v %v", s.name, r.Level, mon.Throttled(), s.level, s.throttled)
		}
		if got := m.Current(); got.Show != s.panel || (s.panel == panel.Fault && got.Code != panel.FaultThermal) {
			t.Errorf("%s: panel shows %+v, want %v", s.name, got, s.panel)
		}
	}
	if diff := cmp.Diff([]bool{true, false, true, false}, throttles); diff != "" {
		t.Errorf("throttle calls (-want +got):\n%s", diff)
	}
}

func TestMonitorSensorErrors(t *testing.T) {
	bad := &thermaltest.Zone{ZoneName: "bad", Err: errors.New("read failed")}
	good := &thermaltest.Zone{ZoneName: "good"}
	good.Set(90)
	mon, err := thermal.NewMonitor(thermal.Config{Zones: []thermal.Zone{bad, good}, ThrottleC: 85, CriticalC: 99, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	r := mon.Check()
	if r.Level != thermal.Throttle || r.Hottest != "good" || r.Zones[0].Err == nil {
		t.Errorf("reading = %+v, want throttle from the good zone and the bad zone's error", r)
	}
	good.Err = errors.New("gone too")
	if r := mon.Check(); r.Level != thermal.Throttle {
		t.Errorf("with no readable zone the level changed to %v", r.Level)
	}
	if _, err := thermal.NewMonitor(thermal.Config{Zones: []thermal.Zone{good}, ThrottleC: 90, CriticalC: 80}); err == nil {
		t.Error("NewMonitor accepted critical below throttle")
	}
}

func TestMonitorRunReadsOnTheClock(t *testing.T) {
	clk := clocktest.New(time.Unix(0, 0))
	z := &thermaltest.Zone{ZoneName: "cpu-thermal"}
	z.Set(50)
	faults := make(chan bool, 4)
	mon, err := thermal.NewMonitor(thermal.Config{Zones: []thermal.Zone{z}, ThrottleC: 85, CriticalC: 99, Every: 5 * time.Second,
		Clock: clk, Logger: quiet, Fault: func(on bool) { faults <- on }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- mon.Run(ctx) }()
	for clk.Pending() == 0 {
		time.Sleep(time.Millisecond) // wait for Run to arm its ticker
	}
	z.Set(105)
	clk.Advance(5 * time.Second)
	select {
	case on := <-faults:
		if !on {
			t.Error("fault cleared instead of raised")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no fault after a tick over the critical limit")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !z.Halted {
		t.Error("Run did not halt the zones on stop")
	}
}
