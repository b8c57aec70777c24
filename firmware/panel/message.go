package panel

import (
	"encoding/binary"
	"fmt"
)

// Type is a frame type, the second byte of every frame.
type Type uint8

// Frame types. See PROTOCOL.md for the payload of each.
const (
	TypeHello     Type = 0x01 // both ways, reliable: a new session starts
	TypeHeartbeat Type = 0x02 // both ways, seq 0, not acknowledged
	TypeAck       Type = 0x03 // both ways, seq = the acknowledged seq
	TypeState     Type = 0x10 // host to panel, reliable: what the lights show
	TypeText      Type = 0x11 // host to panel, reliable: the display line
	TypeButton    Type = 0x20 // panel to host, reliable: a button was pressed
)

func (t Type) String() string {
	switch t {
	case TypeHello:
		return "hello"
	case TypeHeartbeat:
		return "heartbeat"
	case TypeAck:
		return "ack"
	case TypeState:
		return "state"
	case TypeText:
		return "text"
	case TypeButton:
		return "button"
	}
	return fmt.Sprintf("type(%#02x)", uint8(t))
}

// reliable reports whether frames of type t carry a seq and need an ACK.
func (t Type) reliable() bool {
	return t == TypeHello || t == TypeState || t == TypeText || t == TypeButton
}

// Message is the decoded payload of a frame.
type Message interface {
	// Type is the frame type that carries the message.
	Type() Type
	appendPayload([]byte) []byte
}

// Role says which end of the link sent a Hello.
type Role uint8

// Roles.
const (
	RoleHost  Role = 1 // the appliance
	RolePanel Role = 2 // the panel MCU
)

// Capability bits in Hello.Caps.
const (
	CapDisplay uint8 = 1 << 0 // the panel has a text display
	CapButtons uint8 = 1 << 1 // the panel has the acknowledge and self-test buttons
)

// Hello starts a session. Each end sends one when it starts or (re)opens the
// link; Session is a random number that tells a new session from a
// retransmitted Hello.
type Hello struct {
	Role       Role
	MinVersion uint8
	MaxVersion uint8
	Caps       uint8
	TextWidth  uint8 // characters on the display line; 0 without a display
	Session    uint16
}

// Heartbeat tells the other end this end is alive.
type Heartbeat struct{}

// Ack acknowledges the reliable frame whose seq it carries.
type Ack struct{}

// Indication is what the front panel shows.
type Indication uint8

// Indications. PROTOCOL.md gives the lights for each.
const (
	Off        Indication = 0
	Idle       Indication = 1
	Receiving  Indication = 2
	Processing Indication = 3
	Positive   Indication = 4
	Negative   Indication = 5
	Fault      Indication = 6
	SelfTest   Indication = 7
)

var indicationNames = [...]string{"off", "idle", "receiving", "processing", "positive", "negative", "fault", "selftest"}

func (i Indication) String() string {
	if int(i) < len(indicationNames) {
		return indicationNames[i]
	}
	return fmt.Sprintf("indication(%d)", uint8(i))
}

// State sets the lights. Count is the lesion count for Positive (255 means
// 255 or more); Code is the fault code for Fault. Both are 0 otherwise.
type State struct {
	Show  Indication
	Count uint8
	Code  uint16
}

// MaxText is the longest display line, in bytes of printable ASCII.
const MaxText = 32

// Text sets the display line of a panel with a display. It carries only
// printable ASCII built by the appliance from its state (never patient data).
type Text struct {
	Line string
}

// ButtonID names a front-panel button.
type ButtonID uint8

// Buttons.
const (
	ButtonAck      ButtonID = 1 // acknowledge a result or a fault
	ButtonSelfTest ButtonID = 2 // start a self-test
)

func (b ButtonID) String() string {
	switch b {
	case ButtonAck:
		return "acknowledge"
	case ButtonSelfTest:
		return "selftest"
	}
	return fmt.Sprintf("button(%d)", uint8(b))
}

// Button reports a press. Long is a press held over 2 s.
type Button struct {
	ID   ButtonID
	Long bool
}

func (Hello) Type() Type     { return TypeHello }
func (Heartbeat) Type() Type { return TypeHeartbeat }
func (Ack) Type() Type       { return TypeAck }
func (State) Type() Type     { return TypeState }
func (Text) Type() Type      { return TypeText }
func (Button) Type() Type    { return TypeButton }

func (h Hello) appendPayload(b []byte) []byte {
	b = append(b, byte(h.Role), h.MinVersion, h.MaxVersion, h.Caps, h.TextWidth)
	return binary.BigEndian.AppendUint16(b, h.Session)
}
func (Heartbeat) appendPayload(b []byte) []byte { return b }
func (Ack) appendPayload(b []byte) []byte       { return b }
func (s State) appendPayload(b []byte) []byte {
	b = append(b, byte(s.Show), s.Count)
	return binary.BigEndian.AppendUint16(b, s.Code)
}
func (t Text) appendPayload(b []byte) []byte   { return append(b, t.Line...) }
func (x Button) appendPayload(b []byte) []byte { return append(b, byte(x.ID), boolByte(x.Long)) }

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// CheckText reports whether s may go in a Text message: at most MaxText bytes
// of printable ASCII.
func CheckText(s string) error {
	if len(s) > MaxText {
		return fmt.Errorf("panel: text line of %d bytes is too long (at most %d)", len(s), MaxText)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7E {
			return fmt.Errorf("panel: text line has byte %#02x at %d (only printable ASCII is allowed)", s[i], i)
		}
	}
	return nil
}

// EncodeFrame builds the frame that carries m with sequence number seq.
func EncodeFrame(m Message, seq uint8) (Frame, error) {
	if t, ok := m.(Text); ok {
		if err := CheckText(t.Line); err != nil {
			return Frame{}, err
		}
	}
	return Frame{Version: Version, Type: m.Type(), Seq: seq, Payload: m.appendPayload(nil)}, nil
}

// DecodeMessage checks a frame's version and decodes its payload.
func DecodeMessage(f Frame) (Message, error) {
	if f.Version != Version {
		return nil, fmt.Errorf("panel: frame version %d (this end speaks %d): %w", f.Version, Version, ErrVersion)
	}
	p := f.Payload
	need := func(n int) error {
		if len(p) != n {
			return fmt.Errorf("panel: %v payload is %d bytes (expected %d): %w", f.Type, len(p), n, ErrBadFrame)
		}
		return nil
	}
	if f.Type.reliable() && f.Seq == 0 {
		return nil, fmt.Errorf("panel: %v frame has seq 0 (reliable frames use 1 to 255): %w", f.Type, ErrBadFrame)
	}
	switch f.Type {
	case TypeHello:
		if err := need(7); err != nil {
			return nil, err
		}
		h := Hello{Role: Role(p[0]), MinVersion: p[1], MaxVersion: p[2], Caps: p[3], TextWidth: p[4], Session: binary.BigEndian.Uint16(p[5:])}
		if h.Role != RoleHost && h.Role != RolePanel {
			return nil, fmt.Errorf("panel: hello from unknown role %d (expected 1 host or 2 panel): %w", h.Role, ErrBadFrame)
		}
		if h.MinVersion > h.MaxVersion {
			return nil, fmt.Errorf("panel: hello version range %d..%d is empty: %w", h.MinVersion, h.MaxVersion, ErrBadFrame)
		}
		return h, nil
	case TypeHeartbeat:
		return Heartbeat{}, need(0)
	case TypeAck:
		if f.Seq == 0 {
			return nil, fmt.Errorf("panel: ack of seq 0: %w", ErrBadFrame)
		}
		return Ack{}, need(0)
	case TypeState:
		if err := need(4); err != nil {
			return nil, err
		}
		s := State{Show: Indication(p[0]), Count: p[1], Code: binary.BigEndian.Uint16(p[2:])}
		if s.Show > SelfTest {
			return nil, fmt.Errorf("panel: state indication %d is unknown (expected 0 to %d): %w", s.Show, SelfTest, ErrBadFrame)
		}
		return s, nil
	case TypeText:
		if err := CheckText(string(p)); err != nil {
			return nil, fmt.Errorf("%w: %w", err, ErrBadFrame)
		}
		return Text{Line: string(p)}, nil
	case TypeButton:
		if err := need(2); err != nil {
			return nil, err
		}
		b := Button{ID: ButtonID(p[0]), Long: p[1] != 0}
		if b.ID != ButtonAck && b.ID != ButtonSelfTest || p[1] > 1 {
			return nil, fmt.Errorf("panel: button %d/%d is unknown: %w", p[0], p[1], ErrBadFrame)
		}
		return b, nil
	}
	return nil, fmt.Errorf("panel: frame type %#02x: %w", uint8(f.Type), ErrUnknownType)
}
