package panel

import "testing"

func TestFaultText(t *testing.T) {
	tests := []struct {
		code uint16
		want string
	}{
		{FaultThermal, "E0501 thermal critical"},
		{FaultRuntime, "E0303 inference runtime missing or wrong version"},
		{0x0BAD, "E0BAD"},
	}
	for _, tt := range tests {
		if got := FaultText(tt.code); got != tt.want {
			t.Errorf("FaultText(%04x) = %q, want %q", tt.code, got, tt.want)
		}
	}
}
