package sim

import (
	"testing"

	"metsentry/firmware/panel"
)

func TestRender(t *testing.T) {
	tests := []struct {
		name  string
		shown Shown
		phase int
		want  string
	}{
		{"positive", Shown{Plugged: true, State: panel.State{Show: panel.Positive, Count: 3}, Text: "POSITIVE: 3 LESIONS"}, 0,
			"(R) (a) (g)  POSITIVE: 3 LESIONS             "},
		{"negative without display", Shown{Plugged: true, State: panel.State{Show: panel.Negative}}, 0,
			"(r) (a) (G)  negative                        "},
		{"fault blink on", Shown{Plugged: true, State: panel.State{Show: panel.Fault, Code: 0x0501}}, 0,
			"(R) (a) (g)  fault E0501                     "},
		{"fault blink off", Shown{Plugged: true, State: panel.State{Show: panel.Fault, Code: 0x0501}}, 1,
			"(r) (a) (g)  fault E0501                     "},
		{"receiving", Shown{Plugged: true, State: panel.State{Show: panel.Receiving}, Text: "RECEIVING"}, 0,
			"(r) (A) (g)  RECEIVING                       "},
		{"host lost", Shown{Plugged: true, HostLost: true}, 0, "(R) (a) (g)  NO HOST E0701                   "},
		{"unplugged", Shown{}, 0, "(r) (a) (g)  [unplugged]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Render(tt.shown, tt.phase, false); got != tt.want {
				t.Errorf("Render = %q, want %q", got, tt.want)
			}
		})
	}
	if got := Render(tests[0].shown, 0, true); got == tests[0].want {
		t.Error("colour rendering is the same as plain")
	}
}
