package dimse

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/suyashkumar/dicom"
)

// stepLog is a Steps that records what it is told.
type stepLog struct {
	mu    sync.Mutex
	steps map[string]PerformedStep
	calls []string
}

func (l *stepLog) Create(_ context.Context, _ netip.AddrPort, st PerformedStep) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, dup := l.steps[st.SOPInstanceUID]; dup {
		return errors.New("step exists")
	}
	l.steps[st.SOPInstanceUID] = st
	l.calls = append(l.calls, "create "+st.Status)
	return nil
}

func (l *stepLog) Set(_ context.Context, _ netip.AddrPort, st PerformedStep) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	old, ok := l.steps[st.SOPInstanceUID]
	if !ok {
		return ErrNoSuchStep
	}
	if st.Status != "" {
		old.Status = st.Status
	}
	if st.Series != nil {
		old.Series = st.Series
	}
	l.steps[st.SOPInstanceUID] = old
	l.calls = append(l.calls, "set "+st.Status)
	return nil
}

// TestMPPS: the console's N-CREATE (IN PROGRESS) and N-SET (COMPLETED with
// its Performed Series Sequence) reach Server.Steps with the studies, series
// and instances they list, in either transfer syntax; an N-SET of an unknown
// step is answered 0112; an SCP without Steps refuses the SOP class.
func TestMPPS(t *testing.T) {
	done := PerformedStep{Status: StepCompleted, Series: []PerformedSeries{
		{SeriesInstanceUID: "1.2.3.4.701", Instances: []string{"1.2.3.4.701.1", "1.2.3.4.701.2"}},
		{SeriesInstanceUID: "1.2.3.4.702", Instances: []string{"1.2.3.4.702.1"}},
	}}
	for _, ts := range []string{ExplicitVRLittleEndian, ImplicitVRLittleEndian} {
		t.Run(ts, func(t *testing.T) {
			steps := &stepLog{steps: map[string]PerformedStep{}}
			s := &Server{Policy: Policy{AETitle: testAE, AllowedPeers: loopbackPeers}, Storage: DirStorage{Dir: t.TempDir()},
				Logger: testLogger(t), Steps: steps}
			addr := serve(t, s)
			ctx := testCtx(t)
			a, err := Dial(ctx, addr, testPeer, testAE, Context{AbstractSyntax: ModalityPerformedProcedureStepSOPClass, TransferSyntaxes: []string{ts}})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Release(ctx)
			create, err := PerformedStep{Status: StepInProgress, StudyInstanceUIDs: []string{"1.2.3.4"}, Series: []PerformedSeries{}}.DataSet()
			if err != nil {
				t.Fatal(err)
			}
			uid, err := a.NCreate(ctx, "1.2.3.4.9", create)
			if err != nil || uid != "1.2.3.4.9" {
				t.Fatalf("NCreate = %q, %v", uid, err)
			}
			set, err := done.DataSet()
			if err != nil {
				t.Fatal(err)
			}
			if err := a.NSet(ctx, uid, set); err != nil {
				t.Fatalf("NSet: %v", err)
			}
			var se *StatusError
			if err := a.NSet(ctx, "1.2.3.4.10", set); !errors.As(err, &se) || se.Status != StatusNoSuchSOPInstance {
				t.Errorf("NSet of an unknown step = %v; want status 0112", err)
			}
			// A step the SCP names itself.
			if uid, err := a.NCreate(ctx, "", create); err != nil || len(uid) < 6 || uid[:5] != "2.25." {
				t.Errorf("NCreate without a UID = %q, %v; want one the SCP made", uid, err)
			}
			steps.mu.Lock()
			defer steps.mu.Unlock()
			want := PerformedStep{SOPInstanceUID: "1.2.3.4.9", Status: StepCompleted, StudyInstanceUIDs: []string{"1.2.3.4"}, Series: done.Series}
			if d := cmp.Diff(want, steps.steps["1.2.3.4.9"]); d != "" {
				t.Errorf("recorded step (-want +got):\n%s", d)
			}
			if d := cmp.Diff([]string{"create IN PROGRESS", "set COMPLETED", "create IN PROGRESS"}, steps.calls); d != "" {
				t.Errorf("calls (-want +got):\n%s", d)
			}
		})
	}
	t.Run("no Steps", func(t *testing.T) {
		s := &Server{Policy: Policy{AETitle: testAE, AllowedPeers: loopbackPeers}, Storage: DirStorage{Dir: t.TempDir()}, Logger: testLogger(t)}
		addr := serve(t, s)
		ctx := testCtx(t)
		a, err := Dial(ctx, addr, testPeer, testAE, MPPSContext(), VerificationContext())
		if err != nil {
			t.Fatal(err)
		}
		defer a.Release(ctx)
		if _, err := a.NCreate(ctx, "1.2.3.4.9", set0(t)); !errors.Is(err, ErrNoContext) {
			t.Errorf("NCreate = %v; want ErrNoContext (MPPS refused)", err)
		}
	})
}

func set0(t *testing.T) dicom.Dataset {
	t.Helper()
	ds, err := PerformedStep{Status: StepInProgress}.DataSet()
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// serve runs s on a loopback port until the test ends.
func serve(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testLimit)
		defer cancel()
		s.Shutdown(ctx)
		<-done
	})
	return ln.Addr().String()
}

// TestParseStepDelimiterLength: the 32-byte N-SET data set FuzzParseStep
// found, whose item delimiter declares 808 MB, is refused by the guard
// before the DICOM library reads it (it allocated 771 MB per message, and
// hung the fuzzer's worker).
func TestParseStepDelimiterLength(t *testing.T) {
	b := []byte("0000\xff\xff\xff\xff\xfe\xff\x00\xe0\xff\xff\xff\xff\xfe\xff\r\xe00000\xfe\xff\xdd\xe00000")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := ParseStep(b, ImplicitVRLittleEndian)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "delimitation item") {
		t.Fatalf("err = %v, want the guard's refusal of the delimiter's length", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
		t.Errorf("refusing %d bytes allocated %d MiB", len(b), grew>>20)
	}
}
