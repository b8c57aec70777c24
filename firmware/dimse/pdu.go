package dimse

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// PDU types (PS3.8 §9.3).
const (
	TypeAssociateRQ byte = 0x01
	TypeAssociateAC byte = 0x02
	TypeAssociateRJ byte = 0x03
	TypePDataTF     byte = 0x04
	TypeReleaseRQ   byte = 0x05
	TypeReleaseRP   byte = 0x06
	TypeAbort       byte = 0x07
)

// Item types inside A-ASSOCIATE PDUs (PS3.8 §9.3.2, §9.3.3, Annex D).
const (
	itemAppContext     byte = 0x10
	itemContextRQ      byte = 0x20
	itemContextAC      byte = 0x21
	itemAbstractSyntax byte = 0x30
	itemTransferSyntax byte = 0x40
	itemUserInfo       byte = 0x50
	itemMaxLength      byte = 0x51
	itemImplClassUID   byte = 0x52
	itemImplVersion    byte = 0x55
)

// ApplicationContext is the only DICOM application context name (PS3.7 Annex A.2.1).
const ApplicationContext = "1.2.840.10008.3.1.1.1"

// Limits on PDU sizes this package reads, so a declared length never makes it
// allocate more than it agreed to.
const (
	// maxControlPDU bounds every PDU other than P-DATA-TF: an A-ASSOCIATE-RQ
	// with 128 presentation contexts and long UIDs stays far below it.
	maxControlPDU = 256 << 10
	pduHeaderLen  = 6
	// MinPDULength is the smallest maximum PDU length this package negotiates.
	MinPDULength = 4096
	// DefaultMaxPDULength is the maximum P-DATA-TF length advertised when the
	// policy leaves it out: large PDUs mean fewer system calls per instance.
	DefaultMaxPDULength = 1 << 20
	// sendCapUnlimited caps the PDUs we send when the peer says it has no limit.
	sendCapUnlimited = 1 << 20
)

// PDU is one decoded protocol data unit: *AssociateRQ, *AssociateAC,
// *AssociateRJ, *PDataTF, *ReleaseRQ, *ReleaseRP or *Abort.
type PDU interface {
	// Type returns the PDU type byte.
	Type() byte
}

// AssociateRQ is an A-ASSOCIATE-RQ PDU.
type AssociateRQ struct {
	ProtocolVersion     uint16
	CalledAE, CallingAE string
	AppContext          string
	Contexts            []ContextRQ
	UserInfo            UserInfo
}

// AssociateAC is an A-ASSOCIATE-AC PDU.
type AssociateAC struct {
	ProtocolVersion     uint16
	CalledAE, CallingAE string
	AppContext          string
	Contexts            []ContextAC
	UserInfo            UserInfo
}

// ContextRQ is a presentation context proposed in an A-ASSOCIATE-RQ.
type ContextRQ struct {
	ID               byte
	AbstractSyntax   string
	TransferSyntaxes []string
}

// Presentation context results (PS3.8 §9.3.3.2).
const (
	ResultAcceptance                   byte = 0
	ResultUserRejection                byte = 1
	ResultNoReason                     byte = 2
	ResultAbstractSyntaxNotSupported   byte = 3
	ResultTransferSyntaxesNotSupported byte = 4
)

// ContextAC is the answer to one proposed presentation context.
type ContextAC struct {
	ID             byte
	Result         byte
	TransferSyntax string
}

// UserInfo holds the user information item of A-ASSOCIATE-RQ and -AC.
type UserInfo struct {
	// MaxPDULength is the largest P-DATA-TF variable field the sender of
	// this item can receive; 0 means no limit.
	MaxPDULength              uint32
	ImplementationClassUID    string
	ImplementationVersionName string
	// Other keeps sub-items this package does not interpret (asynchronous
	// operations, role selection, extended negotiation, user identity).
	Other []SubItem
}

// SubItem is an uninterpreted user information sub-item.
type SubItem struct {
	Type byte
	Data []byte
}

// AssociateRJ is an A-ASSOCIATE-RJ PDU.
type AssociateRJ struct {
	Result, Source, Reason byte
}

// A-ASSOCIATE-RJ results, sources and reasons (PS3.8 §9.3.4).
const (
	RejectPermanent byte = 1
	RejectTransient byte = 2

	SourceServiceUser                 byte = 1
	SourceServiceProviderACSE         byte = 2
	SourceServiceProviderPresentation byte = 3

	// Reasons with SourceServiceUser.
	ReasonNoReason               byte = 1
	ReasonAppContextNotSupported byte = 2
	ReasonCallingAENotRecognized byte = 3
	ReasonCalledAENotRecognized  byte = 7
	// Reason with SourceServiceProviderACSE.
	ReasonProtocolVersionNotSupported byte = 2
	// Reasons with SourceServiceProviderPresentation.
	ReasonTemporaryCongestion byte = 1
	ReasonLocalLimitExceeded  byte = 2
)

// PDataTF is a P-DATA-TF PDU.
type PDataTF struct {
	Items []PDV
}

// PDV is one presentation data value item.
type PDV struct {
	ContextID byte
	Command   bool // the fragment belongs to a command set, not a data set
	Last      bool // the last fragment of its command set or data set
	Data      []byte
}

// ReleaseRQ is an A-RELEASE-RQ PDU.
type ReleaseRQ struct{}

// ReleaseRP is an A-RELEASE-RP PDU.
type ReleaseRP struct{}

// Abort is an A-ABORT PDU.
type Abort struct {
	Source, Reason byte
}

// A-ABORT sources and provider reasons (PS3.8 §9.3.8).
const (
	AbortSourceUser     byte = 0
	AbortSourceProvider byte = 2

	AbortReasonNotSpecified      byte = 0
	AbortReasonUnrecognizedPDU   byte = 1
	AbortReasonUnexpectedPDU     byte = 2
	AbortReasonUnrecognizedParam byte = 4
	AbortReasonUnexpectedParam   byte = 5
	AbortReasonInvalidParam      byte = 6
)

// Type implements PDU.
func (*AssociateRQ) Type() byte { return TypeAssociateRQ }

// Type implements PDU.
func (*AssociateAC) Type() byte { return TypeAssociateAC }

// Type implements PDU.
func (*AssociateRJ) Type() byte { return TypeAssociateRJ }

// Type implements PDU.
func (*PDataTF) Type() byte { return TypePDataTF }

// Type implements PDU.
func (*ReleaseRQ) Type() byte { return TypeReleaseRQ }

// Type implements PDU.
func (*ReleaseRP) Type() byte { return TypeReleaseRP }

// Type implements PDU.
func (*Abort) Type() byte { return TypeAbort }

// PDUError says why a PDU could not be decoded; Reason is the A-ABORT reason
// the receiver should send.
type PDUError struct {
	Reason byte
	Msg    string
}

func (e *PDUError) Error() string { return "dimse: " + e.Msg }

// Is lets errors.Is(err, ErrMalformedPDU) match every PDUError.
func (e *PDUError) Is(target error) bool { return target == ErrMalformedPDU }

func pduErrf(reason byte, format string, args ...any) error {
	return &PDUError{Reason: reason, Msg: fmt.Sprintf(format, args...)}
}

// readPDUHeader reads the 6-byte PDU header and checks the declared length
// against the limit for its type before anything is allocated.
func readPDUHeader(r io.Reader, hdr *[pduHeaderLen]byte, maxPData uint32) (typ byte, n uint32, err error) {
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, 0, err
	}
	typ, n = hdr[0], binary.BigEndian.Uint32(hdr[2:])
	if err := checkPDULength(typ, n, maxPData); err != nil {
		return 0, 0, err
	}
	return typ, n, nil
}

func checkPDULength(typ byte, n, maxPData uint32) error {
	switch typ {
	case TypeAssociateRQ, TypeAssociateAC:
		if n < 68 || n > maxControlPDU {
			return pduErrf(AbortReasonInvalidParam, "A-ASSOCIATE PDU type %d declares length %d (expected 68 to %d)", typ, n, maxControlPDU)
		}
	case TypeAssociateRJ, TypeReleaseRQ, TypeReleaseRP, TypeAbort:
		if n != 4 {
			return pduErrf(AbortReasonInvalidParam, "PDU type %d declares length %d (expected 4)", typ, n)
		}
	case TypePDataTF:
		if n < 6 || n > maxPData {
			return pduErrf(AbortReasonInvalidParam, "P-DATA-TF declares length %d (expected 6 to the negotiated maximum %d)", n, maxPData)
		}
	default:
		return pduErrf(AbortReasonUnrecognizedPDU, "unknown PDU type 0x%02x (expected 0x01 to 0x07)", typ)
	}
	return nil
}

// DecodePDU decodes one whole PDU (header included). A P-DATA-TF may be at
// most maxPData bytes long after the header; the PDV data slices alias b.
func DecodePDU(b []byte, maxPData uint32) (PDU, error) {
	if len(b) < pduHeaderLen {
		return nil, pduErrf(AbortReasonInvalidParam, "PDU of %d bytes is shorter than its 6-byte header", len(b))
	}
	typ, n := b[0], binary.BigEndian.Uint32(b[2:])
	if err := checkPDULength(typ, n, maxPData); err != nil {
		return nil, err
	}
	if uint64(n) != uint64(len(b)-pduHeaderLen) {
		return nil, pduErrf(AbortReasonInvalidParam, "PDU type %d declares length %d but carries %d bytes", typ, n, len(b)-pduHeaderLen)
	}
	return decodeBody(typ, b[pduHeaderLen:])
}

func decodeBody(typ byte, body []byte) (PDU, error) {
	switch typ {
	case TypeAssociateRQ:
		rq := &AssociateRQ{}
		err := decodeAssociate(body, &rq.ProtocolVersion, &rq.CalledAE, &rq.CallingAE, &rq.AppContext, &rq.UserInfo,
			func(item []byte) error {
				c, err := decodeContextRQ(item)
				rq.Contexts = append(rq.Contexts, c)
				return err
			}, itemContextRQ)
		return rq, err
	case TypeAssociateAC:
		ac := &AssociateAC{}
		err := decodeAssociate(body, &ac.ProtocolVersion, &ac.CalledAE, &ac.CallingAE, &ac.AppContext, &ac.UserInfo,
			func(item []byte) error {
				c, err := decodeContextAC(item)
				ac.Contexts = append(ac.Contexts, c)
				return err
			}, itemContextAC)
		return ac, err
	case TypeAssociateRJ:
		return &AssociateRJ{Result: body[1], Source: body[2], Reason: body[3]}, nil
	case TypePDataTF:
		p := &PDataTF{}
		err := forEachPDV(body, func(v PDV) error { p.Items = append(p.Items, v); return nil })
		return p, err
	case TypeReleaseRQ:
		return &ReleaseRQ{}, nil
	case TypeReleaseRP:
		return &ReleaseRP{}, nil
	case TypeAbort:
		return &Abort{Source: body[2], Reason: body[3]}, nil
	}
	return nil, pduErrf(AbortReasonUnrecognizedPDU, "unknown PDU type 0x%02x", typ)
}

// forEachPDV walks the PDV items of a P-DATA-TF body.
func forEachPDV(body []byte, f func(PDV) error) error {
	if len(body) == 0 {
		return pduErrf(AbortReasonInvalidParam, "P-DATA-TF holds no PDV item (expected at least one)")
	}
	for len(body) > 0 {
		if len(body) < 6 {
			return pduErrf(AbortReasonInvalidParam, "P-DATA-TF ends with %d stray bytes (a PDV item needs at least 6)", len(body))
		}
		n := binary.BigEndian.Uint32(body)
		if n < 2 || uint64(n) > uint64(len(body)-4) {
			return pduErrf(AbortReasonInvalidParam, "PDV item declares length %d with %d bytes left in the PDU", n, len(body)-4)
		}
		mch := body[5]
		if mch&^3 != 0 {
			return pduErrf(AbortReasonInvalidParam, "PDV message control header 0x%02x has reserved bits set", mch)
		}
		if err := f(PDV{ContextID: body[4], Command: mch&1 != 0, Last: mch&2 != 0, Data: body[6 : 4+n]}); err != nil {
			return err
		}
		body = body[4+n:]
	}
	return nil
}

func decodeAssociate(body []byte, ver *uint16, called, calling, appCtx *string, ui *UserInfo, ctxItem func([]byte) error, ctxType byte) error {
	if len(body) < 68 {
		return pduErrf(AbortReasonInvalidParam, "A-ASSOCIATE PDU body of %d bytes is shorter than its 68 fixed bytes", len(body))
	}
	*ver = binary.BigEndian.Uint16(body)
	*called = trimAE(body[4:20])
	*calling = trimAE(body[20:36])
	seenApp, seenUI := false, false
	err := forEachItem(body[68:], "A-ASSOCIATE", func(t byte, item []byte) error {
		switch t {
		case itemAppContext:
			*appCtx, seenApp = trimUID(item), true
		case ctxType:
			return ctxItem(item)
		case itemUserInfo:
			seenUI = true
			return decodeUserInfo(item, ui)
		default:
			return pduErrf(AbortReasonUnrecognizedParam, "A-ASSOCIATE PDU holds an item of unexpected type 0x%02x", t)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !seenApp {
		return pduErrf(AbortReasonInvalidParam, "A-ASSOCIATE PDU has no application context item")
	}
	if !seenUI {
		return pduErrf(AbortReasonInvalidParam, "A-ASSOCIATE PDU has no user information item (it must carry the maximum length)")
	}
	return nil
}

// forEachItem walks items with a 1-byte type, 1 reserved byte and a 2-byte length.
func forEachItem(b []byte, where string, f func(t byte, item []byte) error) error {
	for len(b) > 0 {
		if len(b) < 4 {
			return pduErrf(AbortReasonInvalidParam, "%s ends with %d stray bytes (an item header needs 4)", where, len(b))
		}
		n := int(binary.BigEndian.Uint16(b[2:]))
		if n > len(b)-4 {
			return pduErrf(AbortReasonInvalidParam, "%s item type 0x%02x declares length %d with %d bytes left", where, b[0], n, len(b)-4)
		}
		if err := f(b[0], b[4:4+n]); err != nil {
			return err
		}
		b = b[4+n:]
	}
	return nil
}

func decodeContextRQ(b []byte) (ContextRQ, error) {
	if len(b) < 4 {
		return ContextRQ{}, pduErrf(AbortReasonInvalidParam, "presentation context item of %d bytes (expected at least 4)", len(b))
	}
	c := ContextRQ{ID: b[0]}
	seenAbs := false
	err := forEachItem(b[4:], "presentation context", func(t byte, item []byte) error {
		switch t {
		case itemAbstractSyntax:
			if seenAbs {
				return pduErrf(AbortReasonInvalidParam, "presentation context %d has two abstract syntaxes", c.ID)
			}
			c.AbstractSyntax, seenAbs = trimUID(item), true
		case itemTransferSyntax:
			c.TransferSyntaxes = append(c.TransferSyntaxes, trimUID(item))
		default:
			return pduErrf(AbortReasonUnrecognizedParam, "presentation context %d holds a sub-item of unexpected type 0x%02x", c.ID, t)
		}
		return nil
	})
	if err == nil && (!seenAbs || len(c.TransferSyntaxes) == 0) {
		err = pduErrf(AbortReasonInvalidParam, "presentation context %d needs one abstract syntax and at least one transfer syntax", c.ID)
	}
	return c, err
}

func decodeContextAC(b []byte) (ContextAC, error) {
	if len(b) < 4 {
		return ContextAC{}, pduErrf(AbortReasonInvalidParam, "presentation context item of %d bytes (expected at least 4)", len(b))
	}
	c := ContextAC{ID: b[0], Result: b[2]}
	err := forEachItem(b[4:], "presentation context", func(t byte, item []byte) error {
		if t != itemTransferSyntax {
			return pduErrf(AbortReasonUnrecognizedParam, "accepted presentation context %d holds a sub-item of unexpected type 0x%02x", c.ID, t)
		}
		c.TransferSyntax = trimUID(item)
		return nil
	})
	return c, err
}

func decodeUserInfo(b []byte, ui *UserInfo) error {
	return forEachItem(b, "user information", func(t byte, item []byte) error {
		switch t {
		case itemMaxLength:
			if len(item) != 4 {
				return pduErrf(AbortReasonInvalidParam, "maximum length sub-item of %d bytes (expected 4)", len(item))
			}
			ui.MaxPDULength = binary.BigEndian.Uint32(item)
		case itemImplClassUID:
			ui.ImplementationClassUID = trimUID(item)
		case itemImplVersion:
			ui.ImplementationVersionName = strings.TrimSpace(string(item))
		default:
			ui.Other = append(ui.Other, SubItem{Type: t, Data: append([]byte(nil), item...)})
		}
		return nil
	})
}

func trimAE(b []byte) string  { return strings.Trim(string(b), " \x00") }
func trimUID(b []byte) string { return strings.TrimRight(string(b), " \x00") }

// EncodePDU appends the encoding of p to dst.
func EncodePDU(dst []byte, p PDU) []byte {
	start := len(dst)
	dst = append(dst, p.Type(), 0, 0, 0, 0, 0)
	switch p := p.(type) {
	case *AssociateRQ:
		dst = appendAssociateHead(dst, p.ProtocolVersion, p.CalledAE, p.CallingAE, p.AppContext)
		for _, c := range p.Contexts {
			i := beginItem(&dst, itemContextRQ)
			dst = append(dst, c.ID, 0, 0, 0)
			dst = appendItem(dst, itemAbstractSyntax, c.AbstractSyntax)
			for _, ts := range c.TransferSyntaxes {
				dst = appendItem(dst, itemTransferSyntax, ts)
			}
			endItem(dst, i)
		}
		dst = appendUserInfo(dst, p.UserInfo)
	case *AssociateAC:
		dst = appendAssociateHead(dst, p.ProtocolVersion, p.CalledAE, p.CallingAE, p.AppContext)
		for _, c := range p.Contexts {
			i := beginItem(&dst, itemContextAC)
			dst = append(dst, c.ID, 0, c.Result, 0)
			dst = appendItem(dst, itemTransferSyntax, c.TransferSyntax)
			endItem(dst, i)
		}
		dst = appendUserInfo(dst, p.UserInfo)
	case *AssociateRJ:
		dst = append(dst, 0, p.Result, p.Source, p.Reason)
	case *PDataTF:
		for _, v := range p.Items {
			dst = binary.BigEndian.AppendUint32(dst, uint32(len(v.Data)+2))
			dst = append(dst, v.ContextID, mch(v.Command, v.Last))
			dst = append(dst, v.Data...)
		}
	case *ReleaseRQ, *ReleaseRP:
		dst = append(dst, 0, 0, 0, 0)
	case *Abort:
		dst = append(dst, 0, 0, p.Source, p.Reason)
	}
	binary.BigEndian.PutUint32(dst[start+2:], uint32(len(dst)-start-pduHeaderLen))
	return dst
}

func mch(command, last bool) byte {
	var b byte
	if command {
		b |= 1
	}
	if last {
		b |= 2
	}
	return b
}

func appendAssociateHead(dst []byte, ver uint16, called, calling, appCtx string) []byte {
	if ver == 0 {
		ver = 1
	}
	dst = binary.BigEndian.AppendUint16(dst, ver)
	dst = append(dst, 0, 0)
	dst = appendPadded(dst, called, 16)
	dst = appendPadded(dst, calling, 16)
	dst = append(dst, make([]byte, 32)...)
	if appCtx == "" {
		appCtx = ApplicationContext
	}
	return appendItem(dst, itemAppContext, appCtx)
}

func appendPadded(dst []byte, s string, n int) []byte {
	if len(s) > n {
		s = s[:n]
	}
	dst = append(dst, s...)
	for i := len(s); i < n; i++ {
		dst = append(dst, ' ')
	}
	return dst
}

func appendUserInfo(dst []byte, ui UserInfo) []byte {
	i := beginItem(&dst, itemUserInfo)
	dst = append(dst, itemMaxLength, 0, 0, 4)
	dst = binary.BigEndian.AppendUint32(dst, ui.MaxPDULength)
	if ui.ImplementationClassUID != "" {
		dst = appendItem(dst, itemImplClassUID, ui.ImplementationClassUID)
	}
	for _, s := range ui.Other {
		dst = append(dst, s.Type, 0)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(s.Data)))
		dst = append(dst, s.Data...)
	}
	if ui.ImplementationVersionName != "" {
		dst = appendItem(dst, itemImplVersion, ui.ImplementationVersionName)
	}
	endItem(dst, i)
	return dst
}

func appendItem(dst []byte, t byte, s string) []byte {
	dst = append(dst, t, 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

func beginItem(dst *[]byte, t byte) int {
	i := len(*dst)
	*dst = append(*dst, t, 0, 0, 0)
	return i
}

func endItem(dst []byte, i int) {
	binary.BigEndian.PutUint16(dst[i+2:], uint16(len(dst)-i-4))
}
