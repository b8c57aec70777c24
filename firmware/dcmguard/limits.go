package dcmguard

import "fmt"

// Limits bound one walk over a data set. Every field must be positive;
// DefaultLimits holds the values the appliance uses everywhere.
type Limits struct {
	// MaxDepth bounds sequence nesting: an element of a top-level
	// sequence's item is at depth 1.
	MaxDepth int
	// MaxElementBytes bounds the declared length of one element other
	// than Pixel Data, and of one encapsulated pixel data fragment.
	MaxElementBytes int64
	// MaxElements bounds the elements and items of the data set, at all
	// levels together. A DICOM parser spends a few hundred bytes on each,
	// so this bounds its memory where byte limits cannot.
	MaxElements int
	// MaxItems bounds the items of one sequence and the fragments of one
	// encapsulated pixel data element.
	MaxItems int
	// MaxBytes bounds the data set, after inflating a deflated one.
	MaxBytes int64
	// MaxMetaBytes bounds the file meta group (0002).
	MaxMetaBytes int64
}

// DefaultLimits are the limits for every DICOM instance the appliance reads
// from outside. The 401 Part 10 files of the shared scanner data (GE,
// Philips, Siemens, Hitachi, Hyperfine; classic and enhanced) reach depth 3,
// 33,296 elements and 240 items in one sequence (TestSharedData): a
// multi-frame instance has one per-frame item of about 140 elements per
// frame, so 400,000 elements is about 2,800 frames. suyashkumar/dicom spends
// about 155 bytes on an element, so a parse stays under about 60 MiB.
var DefaultLimits = Limits{
	MaxDepth:        16,
	MaxElementBytes: 64 << 20,
	MaxElements:     400_000,
	MaxItems:        20_000,
	MaxBytes:        1 << 30,
	MaxMetaBytes:    64 << 10,
}

func (l Limits) valid() error {
	if l.MaxDepth <= 0 || l.MaxElementBytes <= 0 || l.MaxElements <= 0 || l.MaxItems <= 0 || l.MaxBytes <= 0 || l.MaxMetaBytes <= 0 {
		return fmt.Errorf("dcmguard: every limit must be positive: %+v", l)
	}
	return nil
}

// Kind tells what a refusal means to the sender.
type Kind int

const (
	// Malformed: the data set cannot be read within the limits (a broken
	// or truncated structure, a length or count over a limit). The C-STORE
	// status is C000 (Error: Cannot Understand).
	Malformed Kind = iota + 1
	// Invalid: the data set reads, but an attribute the image needs breaks
	// the standard (a malformed UID, non-finite geometry, an unusable Image
	// Pixel module, pixel data that does not match it). The C-STORE status
	// is A900 (Error: Data Set Does Not Match SOP Class).
	Invalid
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case Malformed:
		return "malformed"
	case Invalid:
		return "invalid"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Error is what Walk and Check return for an instance they refuse. Check
// for it with errors.As.
type Error struct {
	Kind Kind
	// Reason says what is wrong in words a sender's operator can act on,
	// without patient data; it is kept short, as it travels back as the
	// DIMSE Error Comment (64 characters, longer ones are cut).
	Reason string
}

func (e *Error) Error() string { return "dcmguard: " + e.Kind.String() + " data set: " + e.Reason }

func malformed(format string, a ...any) *Error {
	return &Error{Kind: Malformed, Reason: fmt.Sprintf(format, a...)}
}

func invalid(format string, a ...any) *Error {
	return &Error{Kind: Invalid, Reason: fmt.Sprintf(format, a...)}
}
