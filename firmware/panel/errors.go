package panel

import "errors"

// ErrBadFrame is wrapped by DecodeFrame and the message decoders when bytes
// from the wire are not a valid frame: bad COBS, wrong length, CRC mismatch,
// or a payload that does not fit its message type. The session counts and
// drops such frames; the sender's retry recovers.
var ErrBadFrame = errors.New("panel: bad frame")

// ErrUnknownType is wrapped by DecodeMessage for a frame type this version
// does not know. Such frames are dropped without an ACK.
var ErrUnknownType = errors.New("panel: unknown frame type")

// ErrVersion is wrapped by DecodeMessage for a frame of another protocol
// version.
var ErrVersion = errors.New("panel: unsupported protocol version")

func isUnknown(err error) bool {
	return errors.Is(err, ErrUnknownType) || errors.Is(err, ErrVersion)
}
