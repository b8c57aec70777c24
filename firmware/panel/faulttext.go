package panel

import "fmt"

// faultTexts are the fault codes' meanings, as the service console's and
// systemd's status show them.
var faultTexts = map[uint16]string{
	FaultInternal:       "a service stopped unexpectedly",
	FaultStorage:        "cache or data disk unavailable or full",
	FaultModel:          "model failed to load or verify",
	FaultInference:      "inference failed on a study",
	FaultRuntime:        "inference runtime missing or wrong version",
	FaultNetwork:        "a DICOM destination cannot be reached",
	FaultDelivery:       "results could not be delivered",
	FaultThermal:        "thermal critical",
	FaultSelfTest:       "self-test failed",
	FaultPanelLink:      "no host",
	FaultWatchdogReboot: "last reset by the watchdog",
}

// FaultText is a fault code as a person reads it, e.g. "E0501 thermal
// critical": the code as the panel shows it, then its meaning.
func FaultText(code uint16) string {
	if t, ok := faultTexts[code]; ok {
		return fmt.Sprintf("E%04X %s", code, t)
	}
	return fmt.Sprintf("E%04X", code)
}
