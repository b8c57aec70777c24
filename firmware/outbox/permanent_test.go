package outbox

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"metsentry/firmware/config"
	"metsentry/firmware/dimse"
)

func TestPermanentStatus(t *testing.T) {
	for _, tc := range []struct {
		status uint16
		want   bool
	}{
		{0xA700, true}, {0xA7FF, true}, {0xA900, true}, {0xC000, true}, {0xC123, true},
		{0xA800, false}, {0x0110, false}, {0x0122, false}, {0xB000, false}, {0x0000, false},
	} {
		t.Run(fmt.Sprintf("%04X", tc.status), func(t *testing.T) {
			if got := PermanentStatus(tc.status); got != tc.want {
				t.Errorf("PermanentStatus(0x%04X) = %v, want %v", tc.status, got, tc.want)
			}
		})
	}
}

// A permanent refusal dead-letters the job on its first attempt; a
// transient one backs off and tries again.
func TestPermanentRefusalDeadLetters(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		fileErr   error
		wantState State
		wantCalls int
	}{
		{"association rejected permanently", fmt.Errorf("%w: pacs: %w", ErrPermanent, &dimse.RejectError{}), nil, Dead, 1},
		{"status A700 on a file", nil, fmt.Errorf("%w: %w", ErrPermanent, &dimse.StatusError{Status: 0xA700}), Dead, 1},
		{"connection refused", errors.New("dial tcp: connection refused"), nil, Pending, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &fakeSender{fail: func(n int, _ config.Destination, files []string) (int, map[string]bool, error) {
				if tc.fileErr != nil {
					return -1, nil, nil
				}
				return 0, nil, tc.err
			}}
			var snd Sender = s
			if tc.fileErr != nil {
				snd = senderFunc(func(files []string) ([]Result, error) {
					s.calls = append(s.calls, files)
					var res []Result
					for _, f := range files {
						res = append(res, Result{Path: f, Err: tc.fileErr})
					}
					return res, nil
				})
			}
			o, clk := newOutbox(t, snd, pacs)
			ids, err := o.EnqueueRef("7", "1.2.3", "v1", results)
			if err != nil {
				t.Fatal(err)
			}
			o.RunDue(t.Context())
			clk.Add(policy.Max)
			o.RunDue(t.Context())
			j := o.Jobs()[0]
			if j.ID != ids[0] || j.Ref != "7" {
				t.Errorf("job %q ref %q, want %q ref 7", j.ID, j.Ref, ids[0])
			}
			calls := len(s.calls)
			if tc.wantState == Pending {
				tc.wantCalls = 2
			}
			if j.State != tc.wantState || calls != tc.wantCalls {
				t.Errorf("state %s after %d attempts; want %s after %d", j.State, calls, tc.wantState, tc.wantCalls)
			}
		})
	}
}

type senderFunc func(files []string) ([]Result, error)

func (f senderFunc) Send(_ context.Context, _ config.Destination, files []string) ([]Result, error) {
	return f(files)
}
