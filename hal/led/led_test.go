package led_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"metsentry/hal/clock/clocktest"
	"metsentry/hal/led"
	"metsentry/hal/led/ledtest"
)

func TestBlinkerPatterns(t *testing.T) {
	tests := []struct {
		name string
		mode led.Mode
		want []bool // lit at steps 0..7
	}{
		{"off", led.Off, []bool{false, false, false, false, false, false, false, false}},
		{"on", led.On, []bool{true, true, true, true, true, true, true, true}},
		{"slow 1 Hz", led.Slow, []bool{true, true, false, false, true, true, false, false}},
		{"fast 2 Hz", led.Fast, []bool{true, false, true, false, true, false, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, a, g := &ledtest.LED{Name: "r"}, &ledtest.LED{Name: "a"}, &ledtest.LED{Name: "g"}
			b := led.NewBlinker(r, a, g, clocktest.New(time.Unix(0, 0)))
			if err := b.SetPattern(led.Pattern{led.Red: tt.mode, led.Green: led.On}); err != nil {
				t.Fatal(err)
			}
			var got []bool
			for i := range 8 {
				if i > 0 {
					if err := b.Step(); err != nil {
						t.Fatal(err)
					}
				}
				got = append(got, r.On)
				if a.On || !g.On {
					t.Fatalf("step %d: amber %v green %v, want off and on", i, a.On, g.On)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("red (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBlinkerRunHaltsOnStop(t *testing.T) {
	r, a, g := &ledtest.LED{}, &ledtest.LED{}, &ledtest.LED{}
	clk := clocktest.New(time.Unix(0, 0))
	b := led.NewBlinker(r, a, g, clk)
	_ = b.SetPattern(led.Pattern{led.Fast, led.Off, led.Off})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.Run(ctx) }()
	for clk.Pending() == 0 {
		time.Sleep(time.Millisecond) // wait for Run to arm its ticker
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, l := range []*ledtest.LED{r, a, g} {
		if !l.Halted || l.On {
			t.Errorf("after Run stops: halted %v on %v, want halted and off", l.Halted, l.On)
		}
	}
}

func TestBlinkerKeepsGoingWhenOneLEDFails(t *testing.T) {
	r, a, g := &ledtest.LED{}, &ledtest.LED{Err: errors.New("line busy")}, &ledtest.LED{}
	b := led.NewBlinker(r, a, g, nil)
	err := b.SetPattern(led.Pattern{led.On, led.On, led.On})
	if err == nil {
		t.Fatal("no error from a failing amber LED")
	}
	if !r.On || !g.On {
		t.Errorf("red %v green %v: the working lights must still be set", r.On, g.On)
	}
}
