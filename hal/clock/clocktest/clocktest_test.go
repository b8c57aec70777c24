package clocktest

import (
	"testing"
	"time"
)

func TestAdvanceFiresInOrder(t *testing.T) {
	c := New(time.Unix(100, 0))
	tm := c.NewTimer(3 * time.Second)
	tk := c.NewTicker(time.Second)
	c.Advance(999 * time.Millisecond)
	select {
	case <-tk.C():
		t.Fatal("ticker fired early")
	default:
	}
	c.Advance(time.Millisecond)
	if got := <-tk.C(); !got.Equal(time.Unix(101, 0)) {
		t.Errorf("tick at %v", got)
	}
	c.Advance(2 * time.Second)
	if got := <-tm.C(); !got.Equal(time.Unix(103, 0)) {
		t.Errorf("timer at %v", got)
	}
	if tm.Stop() {
		t.Error("Stop of a fired timer reported pending")
	}
	tm.Reset(time.Second)
	if c.Pending() != 2 {
		t.Errorf("Pending = %d, want the ticker and the reset timer", c.Pending())
	}
	tk.Stop()
	c.Advance(time.Second)
	if got := <-tm.C(); !got.Equal(time.Unix(104, 0)) {
		t.Errorf("reset timer at %v", got)
	}
	if !c.Now().Equal(time.Unix(104, 0)) {
		t.Errorf("Now = %v", c.Now())
	}
}
