package volume

import (
	"bytes"

	"metsentry/firmware/dcmguard"
)

// checkStructure walks a Part 10 file's elements, sequences, items and
// pixel data fragments with dcmguard.Walk, the bounded walk every parse of
// outside DICOM shares (nesting depth, element length, element and item
// counts, data set size, all checked before anything is allocated), before
// suyashkumar/dicom parses it. The parser allocates an element's declared
// length before reading it (make([]byte, vl)) and recurses once per
// sequence level, so one corrupt length or a deep nest in a stored file
// would ask for up to 4 GiB or overflow the stack; here it is a refusal
// instead. A deflated data set is inflated as a stream, never whole.
func checkStructure(b []byte) error {
	_, err := dcmguard.Walk(bytes.NewReader(b), int64(len(b)), dcmguard.Options{})
	return err
}
