package panel

import (
	"context"
	"testing"

	"metsentry/hal/led"
	"metsentry/hal/led/ledtest"
)

func TestLEDDisplayFollowsTheMachine(t *testing.T) {
	r, a, g := &ledtest.LED{}, &ledtest.LED{}, &ledtest.LED{}
	b := led.NewBlinker(r, a, g, nil)
	m := NewMachine(context.Background(), MachineConfig{Displays: []Display{LEDDisplay{B: b}}, Logger: quiet})
	tests := []struct {
		name    string
		do      func()
		r, a, g bool // at blink step 0
	}{
		{"idle: green ready blink", func() {}, false, false, true},
		{"receiving: amber blinks", m.Receiving, false, true, false},
		{"processing: amber", m.Processing, false, true, false},
		{"positive: red", func() { m.Result(2) }, true, false, false},
		{"negative: green", func() { m.Result(0) }, false, false, true},
		{"fault: red blinks", func() { m.SetFault(FaultStorage, true) }, true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.do()
			if r.On != tt.r || a.On != tt.a || g.On != tt.g {
				t.Errorf("lights r%v a%v g%v, want r%v a%v g%v", r.On, a.On, g.On, tt.r, tt.a, tt.g)
			}
		})
	}
	// The fault's red blinks: off at the next step.
	_ = b.Step()
	if r.On {
		t.Error("fault red did not blink off")
	}
}
