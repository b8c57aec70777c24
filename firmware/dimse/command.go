package dimse

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// Command fields (PS3.7 §E.1).
const (
	CStoreRQ  uint16 = 0x0001
	CStoreRSP uint16 = 0x8001
	CEchoRQ   uint16 = 0x0030
	CEchoRSP  uint16 = 0x8030
)

// Command data set types (PS3.7 §E.1, tag 0000,0800).
const (
	// NoDataSet says no data set follows the command.
	NoDataSet uint16 = 0x0101
	// DataSetPresent is what this package writes when a data set follows;
	// any value other than NoDataSet means one does.
	DataSetPresent uint16 = 0x0000
)

// DIMSE statuses used by this package (PS3.7 Annex C, PS3.4 §B.2.3).
const (
	StatusSuccess               uint16 = 0x0000
	StatusSOPClassNotSupported  uint16 = 0x0122
	StatusUnrecognizedOperation uint16 = 0x0211
	StatusOutOfResources        uint16 = 0xA700
	StatusDataSetMismatch       uint16 = 0xA900
	StatusCannotUnderstand      uint16 = 0xC000
)

// Command-set tags (group 0000).
const (
	tagGroupLength             uint16 = 0x0000
	tagAffectedSOPClassUID     uint16 = 0x0002
	tagRequestedSOPClassUID    uint16 = 0x0003
	tagCommandField            uint16 = 0x0100
	tagMessageID               uint16 = 0x0110
	tagMessageIDRespondedTo    uint16 = 0x0120
	tagMoveDestination         uint16 = 0x0600
	tagPriority                uint16 = 0x0700
	tagCommandDataSetType      uint16 = 0x0800
	tagStatus                  uint16 = 0x0900
	tagErrorComment            uint16 = 0x0902
	tagAffectedSOPInstanceUID  uint16 = 0x1000
	tagRequestedSOPInstanceUID uint16 = 0x1001
	tagMoveOriginatorAE        uint16 = 0x1030
	tagMoveOriginatorMessageID uint16 = 0x1031
)

// maxCommandBytes bounds a reassembled command set; real ones are a few
// hundred bytes.
const maxCommandBytes = 64 << 10

// Command is a DIMSE command set. Only the fields C-ECHO, C-STORE, N-CREATE
// and N-SET use are kept; other elements are checked for structure and skipped.
type Command struct {
	CommandField              uint16
	MessageID                 uint16
	MessageIDBeingRespondedTo uint16
	AffectedSOPClassUID       string
	AffectedSOPInstanceUID    string
	RequestedSOPClassUID      string
	RequestedSOPInstanceUID   string
	Priority                  uint16
	CommandDataSetType        uint16
	Status                    uint16
	ErrorComment              string
	MoveOriginatorAE          string
	MoveOriginatorMessageID   uint16
}

// HasDataSet reports whether a data set follows the command.
func (c *Command) HasDataSet() bool { return c.CommandDataSetType != NoDataSet }

// IsResponse reports whether the command is a response.
func (c *Command) IsResponse() bool { return c.CommandField&0x8000 != 0 }

// DecodeCommand decodes a command set encoded in Implicit VR Little Endian
// (PS3.7 §6.3.1). It needs Command Field and Command Data Set Type and, for
// requests, Message ID; responses need Message ID Being Responded To and
// Status.
func DecodeCommand(b []byte) (*Command, error) {
	if len(b) > maxCommandBytes {
		return nil, fmt.Errorf("%w: command set of %d bytes (at most %d expected)", ErrMalformedCommand, len(b), maxCommandBytes)
	}
	c := &Command{}
	var seen uint16
	const (
		seenField = 1 << iota
		seenMsgID
		seenRespTo
		seenDSType
		seenStatus
	)
	prev := -1
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, fmt.Errorf("%w: %d stray bytes at the end (an element header needs 8)", ErrMalformedCommand, len(b))
		}
		group, elem := binary.LittleEndian.Uint16(b), binary.LittleEndian.Uint16(b[2:])
		n := binary.LittleEndian.Uint32(b[4:])
		if group != 0 {
			return nil, fmt.Errorf("%w: element (%04x,%04x) is outside group 0000", ErrMalformedCommand, group, elem)
		}
		if int(elem) <= prev {
			return nil, fmt.Errorf("%w: element (0000,%04x) is out of order or repeated", ErrMalformedCommand, elem)
		}
		prev = int(elem)
		if uint64(n) > uint64(len(b)-8) {
			return nil, fmt.Errorf("%w: element (0000,%04x) declares length %d with %d bytes left", ErrMalformedCommand, elem, n, len(b)-8)
		}
		v := b[8 : 8+n]
		b = b[8+n:]
		var err error
		switch elem {
		case tagCommandField:
			c.CommandField, err = us(v, elem)
			seen |= seenField
		case tagMessageID:
			c.MessageID, err = us(v, elem)
			seen |= seenMsgID
		case tagMessageIDRespondedTo:
			c.MessageIDBeingRespondedTo, err = us(v, elem)
			seen |= seenRespTo
		case tagPriority:
			c.Priority, err = us(v, elem)
		case tagCommandDataSetType:
			c.CommandDataSetType, err = us(v, elem)
			seen |= seenDSType
		case tagStatus:
			c.Status, err = us(v, elem)
			seen |= seenStatus
		case tagMoveOriginatorMessageID:
			c.MoveOriginatorMessageID, err = us(v, elem)
		case tagAffectedSOPClassUID:
			c.AffectedSOPClassUID = trimUID(v)
		case tagAffectedSOPInstanceUID:
			c.AffectedSOPInstanceUID = trimUID(v)
		case tagRequestedSOPClassUID:
			c.RequestedSOPClassUID = trimUID(v)
		case tagRequestedSOPInstanceUID:
			c.RequestedSOPInstanceUID = trimUID(v)
		case tagErrorComment:
			c.ErrorComment = strings.TrimRight(string(v), " \x00")
		case tagMoveOriginatorAE:
			c.MoveOriginatorAE = trimAE(v)
		}
		if err != nil {
			return nil, err
		}
	}
	if seen&seenField == 0 || seen&seenDSType == 0 {
		return nil, fmt.Errorf("%w: Command Field (0000,0100) and Command Data Set Type (0000,0800) are required", ErrMalformedCommand)
	}
	if c.IsResponse() {
		if seen&seenRespTo == 0 || seen&seenStatus == 0 {
			return nil, fmt.Errorf("%w: response 0x%04x lacks Message ID Being Responded To or Status", ErrMalformedCommand, c.CommandField)
		}
	} else if seen&seenMsgID == 0 {
		return nil, fmt.Errorf("%w: request 0x%04x lacks Message ID (0000,0110)", ErrMalformedCommand, c.CommandField)
	}
	return c, nil
}

func us(v []byte, elem uint16) (uint16, error) {
	if len(v) != 2 {
		return 0, fmt.Errorf("%w: element (0000,%04x) has %d bytes (an US value needs 2)", ErrMalformedCommand, elem, len(v))
	}
	return binary.LittleEndian.Uint16(v), nil
}

// Encode returns the command set in Implicit VR Little Endian with its group
// length first.
func (c *Command) Encode() []byte {
	b := make([]byte, 12, 256)
	b = appendStr(b, tagAffectedSOPClassUID, c.AffectedSOPClassUID, 0)
	b = appendStr(b, tagRequestedSOPClassUID, c.RequestedSOPClassUID, 0)
	b = appendUS(b, tagCommandField, c.CommandField)
	if c.IsResponse() {
		b = appendUS(b, tagMessageIDRespondedTo, c.MessageIDBeingRespondedTo)
	} else {
		b = appendUS(b, tagMessageID, c.MessageID)
		if c.CommandField == CStoreRQ {
			b = appendUS(b, tagPriority, c.Priority)
		}
	}
	b = appendUS(b, tagCommandDataSetType, c.CommandDataSetType)
	if c.IsResponse() {
		b = appendUS(b, tagStatus, c.Status)
		b = appendStr(b, tagErrorComment, c.ErrorComment, ' ')
	}
	b = appendStr(b, tagAffectedSOPInstanceUID, c.AffectedSOPInstanceUID, 0)
	b = appendStr(b, tagRequestedSOPInstanceUID, c.RequestedSOPInstanceUID, 0)
	if c.MoveOriginatorAE != "" {
		b = appendStr(b, tagMoveOriginatorAE, c.MoveOriginatorAE, ' ')
		b = appendUS(b, tagMoveOriginatorMessageID, c.MoveOriginatorMessageID)
	}
	// (0000,0000) UL group length of what follows it.
	binary.LittleEndian.PutUint32(b[4:], 4)
	binary.LittleEndian.PutUint32(b[8:], uint32(len(b)-12))
	return b
}

func appendUS(b []byte, elem, v uint16) []byte {
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint16(b, elem)
	b = binary.LittleEndian.AppendUint32(b, 2)
	return binary.LittleEndian.AppendUint16(b, v)
}

// appendStr writes a string element padded to even length; empty strings
// are left out.
func appendStr(b []byte, elem uint16, s string, pad byte) []byte {
	if s == "" {
		return b
	}
	n := len(s) + len(s)%2
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint16(b, elem)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	b = append(b, s...)
	if len(s)%2 == 1 {
		b = append(b, pad)
	}
	return b
}
