package analyze

// Mode says which series a study was read from.
type Mode string

// Modes.
const (
	// Visible is a VISIBLE pair: a black-blood (vessel-suppressed) and a
	// bright-blood series of one acquisition, both fed to the model.
	Visible Mode = "VISIBLE"
	// BrightOnly is the bright-blood (post-contrast 3D T1) series alone: the
	// black channel is zeroed (volume.Prepare) and the manifest's
	// bright-only stage applies. Enhancing vessels are not suppressed, which
	// the SR says.
	BrightOnly Mode = "bright-only"
)

// Describe is the mode in a sentence for the SR and the service console.
func (m Mode) Describe() string {
	switch m {
	case Visible:
		return "Analysis mode: VISIBLE (black-blood and bright-blood images of one acquisition)."
	case BrightOnly:
		return "Analysis mode: bright-only (post-contrast 3D T1 alone; no black-blood image, so enhancing vessels were not suppressed)."
	}
	return "Analysis mode: " + string(m) + "."
}
