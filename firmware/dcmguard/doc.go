// Package dcmguard is the one bounded walk every parse of outside DICOM goes
// through before a full DICOM parser sees it.
//
// A DICOM data set declares its own structure: element lengths of up to
// 4 GiB, sequences of undefined length nested without end, and (deflated)
// a size known only once inflated. suyashkumar/dicom allocates a declared
// length before reading it and recurses once per nesting level, so a small
// hostile file could make it ask for gigabytes or overflow the goroutine
// stack, which Go cannot recover from. Walk reads a Part 10 file's
// structure as a stream, with an explicit recursion bound, and checks every
// declared length and count against Limits before anything is allocated or
// read: nesting depth, one element's length, elements and items in the data
// set, items in one sequence, and data set bytes (inflated). What it refuses
// is an *Error of kind Malformed.
//
// Check is Walk plus the attribute checks an image must pass before the SCP
// answers Success: well-formed UIDs (PS3.5 §9.1), finite geometry, a usable
// Image Pixel module, and pixel data whose length matches Rows × Columns ×
// BitsAllocated/8 × SamplesPerPixel × NumberOfFrames (native syntaxes) or
// whose fragments are complete (encapsulated ones). What it refuses is an
// *Error of kind Invalid. Error.Reason is short enough for a DIMSE Error
// Comment, which is what the sender's console shows.
//
// Users: the cache runs Check on every received instance before recording it
// (and before its header parse), the volume reader runs Walk before parsing a
// stored file, and the DIMSE SCP turns an *Error into the C-STORE status.
package dcmguard
