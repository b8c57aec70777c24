package dimse

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"time"

	"metsentry/firmware/dcmguard"
)

// scpAssoc is one accepted association on the SCP side.
type scpAssoc struct {
	s        *Server
	c        *conn
	log      *slog.Logger
	rq       *AssociateRQ
	remote   netip.AddrPort
	contexts map[byte]ContextAC
	abstract map[byte]string
	bw       *bufio.Writer
	hash     hash.Hash // of the file written
	dsHash   hash.Hash // of the data set as received
	meta     []byte
}

// negotiate answers each proposed presentation context: Verification, the
// storage SOP classes and (with mpps: Server.Steps is set) MPPS are accepted in the first proposed transfer
// syntax this package supports (so the sender need not transcode), the rest
// refused with the matching result.
func negotiate(rq *AssociateRQ, mpps bool) []ContextAC {
	out := make([]ContextAC, 0, len(rq.Contexts))
	for _, pc := range rq.Contexts {
		ac := ContextAC{ID: pc.ID, Result: ResultAbstractSyntaxNotSupported, TransferSyntax: ImplicitVRLittleEndian}
		if pc.AbstractSyntax == VerificationSOPClass || slices.Contains(StorageSOPClasses, pc.AbstractSyntax) ||
			mpps && pc.AbstractSyntax == ModalityPerformedProcedureStepSOPClass {
			ac.Result = ResultTransferSyntaxesNotSupported
			for _, ts := range pc.TransferSyntaxes {
				if slices.Contains(TransferSyntaxes, ts) {
					ac.Result, ac.TransferSyntax = ResultAcceptance, ts
					break
				}
			}
		}
		out = append(out, ac)
	}
	return out
}

func (a *scpAssoc) run() {
	pol := &a.s.pol
	a.c.setMaxSend(a.rq.UserInfo.MaxPDULength)
	acs := negotiate(a.rq, a.s.Steps != nil)
	a.contexts = map[byte]ContextAC{}
	a.abstract = map[byte]string{}
	nacc := 0
	for i, ac := range acs {
		if ac.Result == ResultAcceptance {
			a.contexts[ac.ID] = ac
			a.abstract[ac.ID] = a.rq.Contexts[i].AbstractSyntax
			nacc++
		}
	}
	ac := &AssociateAC{
		ProtocolVersion: 1, CalledAE: a.rq.CalledAE, CallingAE: a.rq.CallingAE, AppContext: ApplicationContext,
		Contexts: acs,
		UserInfo: UserInfo{MaxPDULength: pol.MaxPDULength, ImplementationClassUID: ImplementationClassUID, ImplementationVersionName: ImplementationVersionName},
	}
	if err := a.c.writePDU(ac); err != nil {
		a.log.Info("dimse: sending A-ASSOCIATE-AC failed", "err", err)
		return
	}
	a.log.Info("dimse: association accepted", "contexts", len(acs), "accepted", nacc, "peer_max_pdu", a.rq.UserInfo.MaxPDULength,
		"peer_impl", a.rq.UserInfo.ImplementationVersionName)
	a.c.armTimer(a.s.Clock, pol.IdleTimeout)
	end := AssociationEnd{Remote: a.remote}
	reported := false
	report := func(released bool) {
		if !reported && a.s.Ended != nil {
			reported, end.Released = true, released
			a.s.Ended(end)
		}
	}
	defer report(false)
	start := time.Now()
	for {
		pcid, cmd, err := a.c.readCommand()
		if err != nil {
			var up *unexpectedPDU
			if errors.As(err, &up) {
				switch up.pdu.(type) {
				case *ReleaseRQ:
					a.c.writePDU(&ReleaseRP{})
					a.log.Info("dimse: association released", "stored", end.Stored, "refused", end.Refused, "seconds", time.Since(start).Seconds())
					report(true)
					a.c.timer.Stop()
					a.c.armTimer(a.s.Clock, pol.ARTIMTimeout)
					a.c.waitClose()
					return
				case *Abort:
					a.log.Warn("dimse: association aborted by peer", "stored", end.Stored, "refused", end.Refused)
					return
				default:
					a.log.Warn("dimse: unexpected PDU, aborting", "type", up.pdu.Type())
					a.c.writePDU(&Abort{Source: AbortSourceProvider, Reason: AbortReasonUnexpectedPDU})
					return
				}
			}
			a.s.abortOnError(a.c, a.log, "waiting for a command", err)
			return
		}
		ctxAC, ok := a.contexts[pcid]
		if !ok {
			a.log.Warn("dimse: command on a presentation context that was not accepted, aborting", "context", pcid)
			a.c.writePDU(&Abort{Source: AbortSourceProvider, Reason: AbortReasonInvalidParam})
			return
		}
		if (cmd.CommandField == NCreateRQ || cmd.CommandField == NSetRQ) && a.abstract[pcid] == ModalityPerformedProcedureStepSOPClass {
			rsp, err := a.step(pcid, ctxAC.TransferSyntax, cmd)
			if err != nil {
				a.s.abortOnError(a.c, a.log, "reading an MPPS data set", err)
				return
			}
			if err := a.c.writeMessage(pcid, rsp, nil, 0); err != nil {
				a.log.Info("dimse: sending a response failed", "err", err)
				return
			}
			continue
		}
		var status uint16
		var comment string
		switch cmd.CommandField {
		case CEchoRQ:
			if cmd.HasDataSet() {
				if err := a.discard(pcid); err != nil {
					a.s.abortOnError(a.c, a.log, "reading a C-ECHO data set", err)
					return
				}
			}
			status = StatusSuccess
		case CStoreRQ:
			if !cmd.HasDataSet() {
				a.log.Warn("dimse: C-STORE-RQ without a data set, aborting")
				a.c.writePDU(&Abort{Source: AbortSourceProvider, Reason: AbortReasonInvalidParam})
				return
			}
			status, comment, err = a.store(pcid, ctxAC.TransferSyntax, cmd)
			if err != nil {
				a.s.abortOnError(a.c, a.log, "reading a C-STORE data set", err)
				return
			}
			if status == StatusSuccess {
				end.Stored++
			} else {
				end.Refused++
			}
		default:
			if cmd.IsResponse() {
				a.log.Warn("dimse: unexpected DIMSE response, aborting", "command", cmd.CommandField)
				a.c.writePDU(&Abort{Source: AbortSourceProvider, Reason: AbortReasonUnexpectedPDU})
				return
			}
			if cmd.HasDataSet() {
				if err := a.discard(pcid); err != nil {
					a.s.abortOnError(a.c, a.log, "reading a data set", err)
					return
				}
			}
			status, comment = StatusUnrecognizedOperation, fmt.Sprintf("command 0x%04x is not supported (C-ECHO and C-STORE are)", cmd.CommandField)
		}
		rsp := &Command{
			CommandField: cmd.CommandField | 0x8000, MessageIDBeingRespondedTo: cmd.MessageID,
			AffectedSOPClassUID: cmd.AffectedSOPClassUID, AffectedSOPInstanceUID: cmd.AffectedSOPInstanceUID,
			CommandDataSetType: NoDataSet, Status: status, ErrorComment: errorComment(comment),
		}
		if rsp.AffectedSOPClassUID == "" {
			rsp.AffectedSOPClassUID = a.abstract[pcid]
		}
		if err := a.c.writeMessage(pcid, rsp, nil, 0); err != nil {
			a.log.Info("dimse: sending a response failed", "err", err)
			return
		}
	}
}

func (a *scpAssoc) discard(pcid byte) error {
	_, err := a.c.readData(pcid, io.Discard, 0)
	if errors.Is(err, errTooLarge) {
		err = nil
	}
	return err
}

// store streams one C-STORE data set to a temp file from Storage and hands it
// over. It returns the DIMSE status; an error means the association is
// broken and must be aborted.
func (a *scpAssoc) store(pcid byte, ts string, cmd *Command) (uint16, string, error) {
	log := a.log.With("sop_instance", HashUID(cmd.AffectedSOPInstanceUID))
	if cmd.AffectedSOPClassUID != a.abstract[pcid] {
		if err := a.discard(pcid); err != nil {
			return 0, "", err
		}
		log.Warn("dimse: C-STORE SOP class differs from its presentation context", "context", pcid)
		return StatusDataSetMismatch, "Affected SOP Class UID differs from the abstract syntax of the presentation context", nil
	}
	f, err := a.s.Storage.CreateTemp()
	if err != nil {
		if derr := a.discard(pcid); derr != nil {
			return 0, "", derr
		}
		log.Error("dimse: cannot create a temp file", "err", err)
		return storageStatus(err, "cannot store the instance now")
	}
	keep := false
	defer func() {
		if !keep {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if a.hash == nil {
		a.hash, a.dsHash = sha256.New(), sha256.New()
		a.bw = bufio.NewWriterSize(f, 256<<10)
	}
	a.hash.Reset()
	a.dsHash.Reset()
	a.bw.Reset(f)
	w := io.MultiWriter(a.bw, a.hash)
	a.meta = AppendFileMeta(a.meta[:0], FileMeta{SOPClassUID: cmd.AffectedSOPClassUID, SOPInstanceUID: cmd.AffectedSOPInstanceUID,
		TransferSyntaxUID: ts, SourceAE: a.rq.CallingAE})
	var sniff sniffer
	_, werr := w.Write(a.meta)
	var n int64
	if werr == nil {
		n, err = a.c.readData(pcid, io.MultiWriter(w, a.dsHash, &sniff), a.s.pol.MaxDataSetBytes)
	} else {
		n, err = a.c.readData(pcid, io.Discard, a.s.pol.MaxDataSetBytes)
		if err == nil || errors.Is(err, errTooLarge) {
			err = &sinkError{werr}
		}
	}
	var se *sinkError
	switch {
	case errors.Is(err, errTooLarge):
		log.Warn("dimse: data set too large, refused", "limit", a.s.pol.MaxDataSetBytes)
		return StatusOutOfResources, fmt.Sprintf("data set larger than %d bytes", a.s.pol.MaxDataSetBytes), nil
	case errors.As(err, &se):
		log.Error("dimse: writing the instance failed", "err", se.err)
		return storageStatus(wrapResource(se.err), "cannot write the instance")
	case err != nil:
		return 0, "", err
	}
	if err := a.bw.Flush(); err != nil {
		log.Error("dimse: writing the instance failed", "err", err)
		return storageStatus(wrapResource(err), "cannot write the instance")
	}
	if msg := sniff.check(ts, cmd.AffectedSOPClassUID, cmd.AffectedSOPInstanceUID); msg != "" {
		log.Warn("dimse: data set does not match its request", "why", msg)
		return StatusDataSetMismatch, msg, nil
	}
	in := Instance{
		SOPClassUID: cmd.AffectedSOPClassUID, SOPInstanceUID: cmd.AffectedSOPInstanceUID, TransferSyntaxUID: ts,
		CallingAE: a.rq.CallingAE, CalledAE: a.rq.CalledAE, Remote: a.remote, Size: n,
	}
	copy(in.SHA256[:], a.hash.Sum(nil))
	copy(in.DataSetSHA256[:], a.dsHash.Sum(nil))
	keep = true // Store owns f now.
	if err := a.s.Storage.Store(context.Background(), f, in); err != nil {
		var ge *dcmguard.Error
		if errors.As(err, &ge) {
			// The sender's data, not this box, is at fault: a warning.
			log.Warn("dimse: instance refused", "kind", ge.Kind, "why", ge.Reason)
		} else {
			log.Error("dimse: storage refused the instance", "err", err)
		}
		return storageStatus(err, "the instance could not be stored")
	}
	return StatusSuccess, "", nil
}

// storageStatus maps a Storage error to the DIMSE status and Error Comment
// of the response (the error return is always nil: the association goes
// on). A *dcmguard.Error anywhere in the chain gives its own status
// (Malformed: C000, Invalid: A900) and its Reason as the comment, so the
// sender's console says what to fix; otherwise the comment is def.
func storageStatus(err error, def string) (uint16, string, error) {
	var ge *dcmguard.Error
	switch {
	case errors.Is(err, ErrOutOfResources):
		return StatusOutOfResources, def, nil
	case errors.Is(err, ErrDataSetMismatch):
		return StatusDataSetMismatch, def, nil
	case errors.As(err, &ge) && ge.Kind == dcmguard.Invalid:
		return StatusDataSetMismatch, ge.Reason, nil
	case errors.As(err, &ge):
		return StatusCannotUnderstand, ge.Reason, nil
	}
	return StatusCannotUnderstand, def, nil
}

// maxComment is the longest Error Comment (0000,0902) may be: one LO value.
const maxComment = 64

// errorComment makes s a valid LO value: at most 64 characters, printable
// ASCII without the backslash (the value delimiter).
func errorComment(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7E || c == '\\' {
			b[i] = '?'
		}
	}
	if len(b) > maxComment {
		b = append(b[:maxComment-3], "..."...)
	}
	return string(b)
}

// HashUID shortens a UID for logs: the first 12 hex digits of its SHA-256.
func HashUID(uid string) string {
	h := sha256.Sum256([]byte(uid))
	return fmt.Sprintf("%x", h[:6])
}
