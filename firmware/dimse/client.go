package dimse

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/suyashkumar/dicom"
)

// Dialer opens SCU associations. The zero Dialer is ready to use.
type Dialer struct {
	// TLS, when set, makes the SCU speak the DICOM TLS profile.
	TLS *tls.Config
	// MaxPDULength is the largest P-DATA-TF this SCU receives; 0 means
	// DefaultMaxPDULength.
	MaxPDULength uint32
}

// RejectError is returned by Dial when the peer answers A-ASSOCIATE-RJ.
type RejectError struct{ AssociateRJ }

func (e *RejectError) Error() string {
	return "dimse: association rejected: " + describe(&e.AssociateRJ)
}

// Unwrap makes errors.Is(err, ErrRejected) true.
func (e *RejectError) Unwrap() error { return ErrRejected }

// StatusError is returned when the peer answers a request with a failure
// status.
type StatusError struct {
	Status  uint16
	Comment string
}

func (e *StatusError) Error() string {
	if e.Comment != "" {
		return fmt.Sprintf("dimse: peer answered status 0x%04X: %s", e.Status, e.Comment)
	}
	return fmt.Sprintf("dimse: peer answered status 0x%04X", e.Status)
}

// Assoc is an association opened by the SCU.
type Assoc struct {
	c        *conn
	accepted []acceptedContext
	msgID    uint16
	mu       sync.Mutex
	// AC is the peer's answer.
	AC *AssociateAC
}

type acceptedContext struct {
	id           byte
	abstract, ts string
}

// Dial opens an association with the zero Dialer.
func Dial(ctx context.Context, addr, callingAE, calledAE string, contexts ...Context) (*Assoc, error) {
	return (&Dialer{}).Dial(ctx, addr, callingAE, calledAE, contexts...)
}

// Dial connects to addr and negotiates the proposed contexts (at most 128).
// It fails with a *RejectError on A-ASSOCIATE-RJ; contexts the peer refuses
// are simply not available to Store.
func (d *Dialer) Dial(ctx context.Context, addr, callingAE, calledAE string, contexts ...Context) (*Assoc, error) {
	if len(contexts) == 0 || len(contexts) > 128 {
		return nil, fmt.Errorf("dimse: dial %s: %d presentation contexts proposed (expected 1 to 128)", addr, len(contexts))
	}
	var nd net.Dialer
	nc, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dimse: dial %s: %w", addr, err)
	}
	if d.TLS != nil {
		tc := tls.Client(nc, d.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("dimse: dial %s: TLS: %w", addr, err)
		}
		nc = tc
	}
	maxRecv := d.MaxPDULength
	if maxRecv == 0 {
		maxRecv = DefaultMaxPDULength
	}
	maxRecv = max(maxRecv, MinPDULength)
	a := &Assoc{c: newConn(nc, maxRecv)}
	stop := a.watch(ctx)
	defer stop()
	rq := &AssociateRQ{ProtocolVersion: 1, CalledAE: calledAE, CallingAE: callingAE, AppContext: ApplicationContext,
		UserInfo: UserInfo{MaxPDULength: maxRecv, ImplementationClassUID: ImplementationClassUID, ImplementationVersionName: ImplementationVersionName}}
	for i, c := range contexts {
		rq.Contexts = append(rq.Contexts, ContextRQ{ID: byte(2*i + 1), AbstractSyntax: c.AbstractSyntax, TransferSyntaxes: c.TransferSyntaxes})
	}
	if err := a.c.writePDU(rq); err != nil {
		nc.Close()
		return nil, fmt.Errorf("dimse: dial %s: %w", addr, a.ctxErr(ctx, err))
	}
	p, err := a.c.readPDU()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("dimse: dial %s: waiting for A-ASSOCIATE-AC: %w", addr, a.ctxErr(ctx, err))
	}
	switch p := p.(type) {
	case *AssociateAC:
		a.AC = p
		a.c.setMaxSend(p.UserInfo.MaxPDULength)
		for _, pc := range p.Contexts {
			i := int(pc.ID-1) / 2
			if pc.Result != ResultAcceptance || pc.ID%2 == 0 || i >= len(contexts) {
				continue
			}
			a.accepted = append(a.accepted, acceptedContext{id: pc.ID, abstract: contexts[i].AbstractSyntax, ts: pc.TransferSyntax})
		}
		return a, nil
	case *AssociateRJ:
		nc.Close()
		return nil, &RejectError{*p}
	case *Abort:
		nc.Close()
		return nil, fmt.Errorf("dimse: dial %s: %w (source %d reason %d)", addr, ErrAborted, p.Source, p.Reason)
	default:
		a.c.writePDU(&Abort{Source: AbortSourceProvider, Reason: AbortReasonUnexpectedPDU})
		nc.Close()
		return nil, fmt.Errorf("dimse: dial %s: unexpected PDU type %d in answer to A-ASSOCIATE-RQ", addr, p.Type())
	}
}

// watch makes ctx's deadline and cancellation interrupt the connection.
func (a *Assoc) watch(ctx context.Context) (stop func()) {
	if dl, ok := ctx.Deadline(); ok {
		a.c.nc.SetReadDeadline(dl)
	}
	s := context.AfterFunc(ctx, func() { a.c.nc.SetDeadline(time.Unix(1, 0)) })
	return func() {
		s()
		a.c.nc.SetReadDeadline(time.Time{})
	}
}

func (a *Assoc) ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return err
}

// Contexts returns the accepted presentation contexts as abstract syntax and
// transfer syntax pairs.
func (a *Assoc) Contexts() []Context {
	var out []Context
	for _, c := range a.accepted {
		out = append(out, Context{AbstractSyntax: c.abstract, TransferSyntaxes: []string{c.ts}})
	}
	return out
}

func (a *Assoc) find(abstract, ts string) (byte, bool) {
	for _, c := range a.accepted {
		if c.abstract == abstract && (ts == "" || c.ts == ts) {
			return c.id, true
		}
	}
	return 0, false
}

// Echo sends C-ECHO-RQ and waits for a success response.
func (a *Assoc) Echo(ctx context.Context) error {
	pcid, ok := a.find(VerificationSOPClass, "")
	if !ok {
		return fmt.Errorf("%w for Verification (propose VerificationContext())", ErrNoContext)
	}
	_, err := a.request(ctx, pcid, &Command{CommandField: CEchoRQ, AffectedSOPClassUID: VerificationSOPClass, CommandDataSetType: NoDataSet}, nil, 0)
	return err
}

// StoreFile sends a DICOM Part 10 file with C-STORE, streaming its data set
// as stored (no transcoding): an accepted context must carry the file's SOP
// class and transfer syntax.
func (a *Assoc) StoreFile(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("dimse: store: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("dimse: store: %w", err)
	}
	br := bufio.NewReaderSize(f, 64<<10)
	m, err := ReadFileMeta(br)
	if err != nil {
		return fmt.Errorf("dimse: store %s: %w", path, err)
	}
	return a.store(ctx, m, br, st.Size()-m.DataSetOffset)
}

// StoreDataset encodes an in-memory data set (its file meta elements name
// the SOP class, instance and transfer syntax) and sends it with C-STORE.
func (a *Assoc) StoreDataset(ctx context.Context, ds dicom.Dataset, opts ...dicom.WriteOption) error {
	var buf bytes.Buffer
	if err := dicom.Write(&buf, ds, opts...); err != nil {
		return fmt.Errorf("dimse: store: encoding the data set: %w", err)
	}
	return a.StoreBytes(ctx, buf.Bytes())
}

// StoreBytes sends a DICOM Part 10 file held in memory with C-STORE.
func (a *Assoc) StoreBytes(ctx context.Context, part10 []byte) error {
	br := bufio.NewReader(bytes.NewReader(part10))
	m, err := ReadFileMeta(br)
	if err != nil {
		return fmt.Errorf("dimse: store: %w", err)
	}
	return a.store(ctx, m, br, int64(len(part10))-m.DataSetOffset)
}

func (a *Assoc) store(ctx context.Context, m FileMeta, data io.Reader, size int64) error {
	pcid, ok := a.find(m.SOPClassUID, m.TransferSyntaxUID)
	if !ok {
		return fmt.Errorf("%w for SOP class %s in transfer syntax %s", ErrNoContext, m.SOPClassUID, m.TransferSyntaxUID)
	}
	if size%2 == 1 && m.TransferSyntaxUID == DeflatedExplicitVRLittleEndian {
		// PS3.5 §A.5: the deflated stream is padded to even length; files
		// written without the pad are sent with it.
		data, size = io.MultiReader(data, bytes.NewReader([]byte{0})), size+1
	}
	cmd := &Command{CommandField: CStoreRQ, AffectedSOPClassUID: m.SOPClassUID, AffectedSOPInstanceUID: m.SOPInstanceUID, CommandDataSetType: DataSetPresent}
	_, err := a.request(ctx, pcid, cmd, data, size)
	return err
}

// request sends one request and waits for its response.
func (a *Assoc) request(ctx context.Context, pcid byte, cmd *Command, data io.Reader, size int64) (*Command, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	stop := a.watch(ctx)
	defer stop()
	a.msgID++
	cmd.MessageID = a.msgID
	if err := a.c.writeMessage(pcid, cmd, data, size); err != nil {
		return nil, a.fail(ctx, err)
	}
	_, rsp, err := a.c.readCommand()
	if err != nil {
		return nil, a.fail(ctx, err)
	}
	if rsp.HasDataSet() {
		if _, err := a.c.readData(pcid, io.Discard, 0); err != nil && !errors.Is(err, errTooLarge) {
			return nil, a.fail(ctx, err)
		}
	}
	if rsp.CommandField != cmd.CommandField|0x8000 || rsp.MessageIDBeingRespondedTo != cmd.MessageID {
		a.c.writePDU(&Abort{Source: AbortSourceProvider, Reason: AbortReasonUnexpectedPDU})
		a.c.nc.Close()
		return nil, fmt.Errorf("dimse: response 0x%04x to message %d where 0x%04x to %d was expected", rsp.CommandField, rsp.MessageIDBeingRespondedTo, cmd.CommandField|0x8000, cmd.MessageID)
	}
	// Success and warnings (0001, Bxxx) complete the request.
	if rsp.Status == StatusSuccess || rsp.Status == 0x0001 || rsp.Status&0xF000 == 0xB000 {
		return rsp, nil
	}
	return rsp, &StatusError{Status: rsp.Status, Comment: rsp.ErrorComment}
}

// fail turns a broken exchange into an error and closes the association.
func (a *Assoc) fail(ctx context.Context, err error) error {
	var up *unexpectedPDU
	if errors.As(err, &up) {
		if ab, ok := up.pdu.(*Abort); ok {
			err = fmt.Errorf("%w by the peer (source %d reason %d)", ErrAborted, ab.Source, ab.Reason)
		} else {
			a.c.writePDU(&Abort{Source: AbortSourceProvider, Reason: AbortReasonUnexpectedPDU})
		}
	} else if errors.Is(err, ErrMalformedPDU) || errors.Is(err, ErrMalformedCommand) {
		a.c.writePDU(&Abort{Source: AbortSourceProvider, Reason: AbortReasonInvalidParam})
	}
	a.c.nc.Close()
	return a.ctxErr(ctx, err)
}

// Release ends the association with A-RELEASE-RQ and waits for A-RELEASE-RP.
func (a *Assoc) Release(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	defer a.c.nc.Close()
	stop := a.watch(ctx)
	defer stop()
	if err := a.c.writePDU(&ReleaseRQ{}); err != nil {
		return fmt.Errorf("dimse: release: %w", a.ctxErr(ctx, err))
	}
	for {
		p, err := a.c.readPDU()
		if err != nil {
			return fmt.Errorf("dimse: release: %w", a.ctxErr(ctx, err))
		}
		switch p := p.(type) {
		case *ReleaseRP:
			return nil
		case *Abort:
			return fmt.Errorf("dimse: release: %w by the peer (source %d reason %d)", ErrAborted, p.Source, p.Reason)
		case *PDataTF:
			continue // late data is dropped
		default:
			return fmt.Errorf("dimse: release: unexpected PDU type %d", p.Type())
		}
	}
}

// Abort ends the association at once with A-ABORT.
func (a *Assoc) Abort() error {
	err := a.c.writePDU(&Abort{Source: AbortSourceUser})
	if cerr := a.c.nc.Close(); err == nil {
		err = cerr
	}
	return err
}
