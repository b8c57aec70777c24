package dimse

import "errors"

// Errors this package returns or expects; check them with errors.Is.
var (
	// ErrOutOfResources is wrapped by a Storage that cannot keep an
	// instance for lack of space or another resource; the SCP answers
	// status A700 (Refused: Out of Resources).
	ErrOutOfResources = errors.New("dimse: out of resources")
	// ErrDataSetMismatch is wrapped by a Storage (or returned by the SCP
	// itself) when the data set does not match the SOP class or instance
	// named in the C-STORE request; the SCP answers status A900.
	ErrDataSetMismatch = errors.New("dimse: data set does not match the SOP class or instance of the request")
	// ErrMalformedPDU is matched by every *PDUError: a PDU that breaks
	// PS3.8. The association is aborted.
	ErrMalformedPDU = errors.New("dimse: malformed PDU")
	// ErrMalformedCommand is returned by DecodeCommand for a command set
	// that breaks PS3.7. The association is aborted.
	ErrMalformedCommand = errors.New("dimse: malformed command set")
	// ErrRejected is wrapped by the *RejectError Dial returns when the peer
	// answers A-ASSOCIATE-RJ.
	ErrRejected = errors.New("dimse: association rejected")
	// ErrAborted is returned when the peer (or this side after a timeout)
	// aborts the association.
	ErrAborted = errors.New("dimse: association aborted")
	// ErrNoContext is returned by the SCU when no accepted presentation
	// context carries the SOP class and transfer syntax of what it is asked
	// to send.
	ErrNoContext = errors.New("dimse: no accepted presentation context")
	// ErrServerClosed is returned by Server.Serve after Shutdown.
	ErrServerClosed = errors.New("dimse: server closed")
)
