package panel

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type recorder struct {
	mu    sync.Mutex
	views []View
}

func (r *recorder) Show(v View) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.views = append(r.views, v)
	return nil
}

func (r *recorder) shows() []Indication {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Indication
	for _, v := range r.views {
		out = append(out, v.Show)
	}
	return out
}

func (r *recorder) last() View {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.views[len(r.views)-1]
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestMachineTransitions(t *testing.T) {
	tests := []struct {
		name  string
		steps func(m *Machine)
		want  []Indication
		last  View
	}{
		{"positive study", func(m *Machine) { m.Receiving(); m.Processing(); m.Result(3) },
			[]Indication{Idle, Receiving, Processing, Positive}, View{Show: Positive, Count: 3, Text: "POSITIVE: 3 LESIONS"}},
		{"negative study acknowledged", func(m *Machine) { m.Receiving(); m.Processing(); m.Result(0); m.Button(Button{ID: ButtonAck}) },
			[]Indication{Idle, Receiving, Processing, Negative, Idle}, View{Show: Idle, Text: "READY"}},
		{"one lesion", func(m *Machine) { m.Result(1) }, []Indication{Idle, Positive}, View{Show: Positive, Count: 1, Text: "POSITIVE: 1 LESION"}},
		{"count saturates", func(m *Machine) { m.Result(1000) }, []Indication{Idle, Positive}, View{Show: Positive, Count: 255, Text: "POSITIVE: 255+ LESIONS"}},
		{"next study replaces the result", func(m *Machine) { m.Result(2); m.Receiving() },
			[]Indication{Idle, Positive, Receiving}, View{Show: Receiving, Text: "RECEIVING"}},
		{"fault outranks and clears back", func(m *Machine) {
			m.Processing()
			m.SetFault(FaultThermal, true)
			m.Result(2) // the result arrives under the fault
			m.SetFault(FaultThermal, false)
		}, []Indication{Idle, Processing, Fault, Positive}, View{Show: Positive, Count: 2, Text: "POSITIVE: 2 LESIONS"}},
		{"lowest fault code shown", func(m *Machine) { m.SetFault(FaultThermal, true); m.SetFault(FaultStorage, true) },
			[]Indication{Idle, Fault, Fault}, View{Show: Fault, Code: FaultStorage, Text: "FAULT E0201"}},
		{"ack does not clear a fault", func(m *Machine) { m.SetFault(FaultNetwork, true); m.Button(Button{ID: ButtonAck}) },
			[]Indication{Idle, Fault}, View{Show: Fault, Code: FaultNetwork, Text: "FAULT E0401"}},
		{"ack on idle does nothing", func(m *Machine) { m.Button(Button{ID: ButtonAck}) }, []Indication{Idle}, View{Show: Idle, Text: "READY"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r recorder
			m := NewMachine(context.Background(), MachineConfig{Displays: []Display{&r}, Logger: quiet})
			tt.steps(m)
			if diff := cmp.Diff(tt.want, r.shows()); diff != "" {
				t.Errorf("indications (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.last, r.last()); diff != "" {
				t.Errorf("last view (-want +got):\n%s", diff)
			}
			if err := CheckText(r.last().Text); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestMachineSelfTest(t *testing.T) {
	tests := []struct {
		name   string
		result error
		want   View
	}{
		{"passes", nil, View{Show: Idle, Text: "READY"}},
		{"fails", errors.New("model checksum mismatch"), View{Show: Fault, Code: FaultSelfTest, Text: "FAULT E0601"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r recorder
			release := make(chan struct{})
			m := NewMachine(context.Background(), MachineConfig{Displays: []Display{&r}, Logger: quiet,
				SelfTest: func(context.Context) error { <-release; return tt.result }})
			m.Button(Button{ID: ButtonSelfTest})
			m.Button(Button{ID: ButtonSelfTest}) // a second press while running is ignored
			if got := m.Current().Show; got != SelfTest {
				t.Fatalf("during the self-test the panel shows %v", got)
			}
			close(release)
			deadline := time.Now().Add(2 * time.Second)
			for m.Current().Show == SelfTest && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond) // wait for the self-test goroutine, not a timer
			}
			if diff := cmp.Diff(tt.want, m.Current()); diff != "" {
				t.Errorf("after the self-test (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]Indication{Idle, SelfTest, tt.want.Show}, r.shows()); diff != "" {
				t.Errorf("indications (-want +got):\n%s", diff)
			}
		})
	}
}
