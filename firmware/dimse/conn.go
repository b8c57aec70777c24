package dimse

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// writeTimeout bounds each PDU write so a peer that stops reading cannot
// hold an association forever.
const writeTimeout = 60 * time.Second

// conn carries PDUs of one association over a network connection: it reads
// PDUs, hands out PDV fragments across PDU boundaries and writes messages
// fragmented to the peer's maximum PDU length.
type conn struct {
	nc      net.Conn
	br      *bufio.Reader
	maxRecv uint32 // what we advertised: the largest P-DATA-TF we read
	maxSend uint32 // what the peer advertised, capped

	hdr  [pduHeaderLen]byte
	body []byte // buffer of the last PDU read
	pdv  []byte // rest of the P-DATA-TF being walked

	wmu  sync.Mutex
	wbuf []byte

	// quickAck, when not nil, sets TCP_QUICKACK (Linux).
	quickAck func()
	// timer, when set, is reset to timeout before every PDU read; when it
	// fires the read is interrupted and expired is set.
	timer   Timer
	timeout time.Duration
	expired atomic.Bool
}

func newConn(nc net.Conn, maxRecv uint32) *conn {
	c := &conn{nc: nc, maxRecv: maxRecv, maxSend: MinPDULength, quickAck: quickAckFunc(nc)}
	var r io.Reader = nc
	if c.quickAck != nil {
		r = quickReader{nc, c.quickAck}
	}
	c.br = bufio.NewReaderSize(r, 64<<10)
	return c
}

// quickReader re-arms TCP_QUICKACK after every read system call: a sender
// with Nagle's algorithm on holds the tail of a PDU until everything before
// it is acknowledged, so a delayed ACK while we wait for that tail costs a
// full delayed-ACK timeout (40 ms on Linux).
type quickReader struct {
	r        io.Reader
	quickAck func()
}

func (q quickReader) Read(p []byte) (int, error) {
	n, err := q.r.Read(p)
	q.quickAck()
	return n, err
}

// armTimer installs a timer (ARTIM or idle) that interrupts reads after d
// without a PDU.
func (c *conn) armTimer(clk Clock, d time.Duration) {
	if c.timer != nil {
		c.timer.Stop()
	}
	c.timeout = d
	c.timer = clk.AfterFunc(d, func() {
		c.expired.Store(true)
		c.nc.SetReadDeadline(time.Unix(1, 0))
	})
}

func (c *conn) stopTimer() {
	if c.timer != nil {
		c.timer.Stop()
	}
}

// errTimeout is returned by reads interrupted by the association timer.
var errTimeout = errors.New("dimse: timer expired waiting for the peer")

func (c *conn) setMaxSend(peer uint32) {
	switch {
	case peer == 0 || peer > sendCapUnlimited:
		c.maxSend = sendCapUnlimited
	case peer < 64:
		c.maxSend = 64
	default:
		c.maxSend = peer
	}
}

// readRaw reads one PDU and returns its type and body; the body is valid
// until the next read.
func (c *conn) readRaw() (byte, []byte, error) {
	if c.timer != nil {
		// The timer runs only while waiting for the peer: a slow Store
		// between two PDUs is not the peer's idleness.
		c.expired.Store(false)
		c.nc.SetReadDeadline(time.Time{})
		c.timer.Reset(c.timeout)
		defer c.timer.Stop()
	}
	typ, n, err := readPDUHeader(c.br, &c.hdr, c.maxRecv)
	if err != nil {
		return 0, nil, c.readErr(err)
	}
	if cap(c.body) < int(n) {
		c.body = make([]byte, n)
	}
	c.body = c.body[:n]
	if _, err := io.ReadFull(c.br, c.body); err != nil {
		return 0, nil, c.readErr(err)
	}
	return typ, c.body, nil
}

func (c *conn) readErr(err error) error {
	if c.expired.Load() {
		return errTimeout
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("dimse: connection closed inside a PDU: %w", err)
	}
	return err
}

// readPDU reads and decodes one PDU.
func (c *conn) readPDU() (PDU, error) {
	typ, body, err := c.readRaw()
	if err != nil {
		return nil, err
	}
	return decodeBody(typ, body)
}

// unexpectedPDU is returned by nextPDV when a PDU other than P-DATA-TF
// arrives.
type unexpectedPDU struct{ pdu PDU }

func (e *unexpectedPDU) Error() string {
	return fmt.Sprintf("dimse: unexpected PDU type %d while waiting for data", e.pdu.Type())
}

// nextPDV returns the next PDV; its Data is valid until the next call.
func (c *conn) nextPDV() (PDV, error) {
	for len(c.pdv) == 0 {
		typ, body, err := c.readRaw()
		if err != nil {
			return PDV{}, err
		}
		if typ != TypePDataTF {
			p, err := decodeBody(typ, body)
			if err != nil {
				return PDV{}, err
			}
			return PDV{}, &unexpectedPDU{p}
		}
		// Validate the whole PDU once so the walk below cannot fail.
		if err := forEachPDV(body, func(PDV) error { return nil }); err != nil {
			return PDV{}, err
		}
		c.pdv = body
	}
	b := c.pdv
	n := binary.BigEndian.Uint32(b)
	v := PDV{ContextID: b[4], Command: b[5]&1 != 0, Last: b[5]&2 != 0, Data: b[6 : 4+n]}
	c.pdv = b[4+n:]
	return v, nil
}

// readCommand reassembles the next command set.
func (c *conn) readCommand() (byte, *Command, error) {
	var buf []byte
	var pcid byte
	first := true
	for {
		v, err := c.nextPDV()
		if err != nil {
			return 0, nil, err
		}
		if !v.Command {
			return 0, nil, pduErrf(AbortReasonUnexpectedPDU, "data set fragment where a command set was expected")
		}
		if first {
			pcid, first = v.ContextID, false
		} else if v.ContextID != pcid {
			return 0, nil, pduErrf(AbortReasonInvalidParam, "command fragments on presentation contexts %d and %d", pcid, v.ContextID)
		}
		if len(buf)+len(v.Data) > maxCommandBytes {
			return 0, nil, fmt.Errorf("%w: command set longer than %d bytes", ErrMalformedCommand, maxCommandBytes)
		}
		buf = append(buf, v.Data...)
		if v.Last {
			break
		}
	}
	cmd, err := DecodeCommand(buf)
	return pcid, cmd, err
}

// readData copies the data set fragments on pcid to w until the last one.
// Once more than limit bytes have arrived it keeps reading but stops
// writing and returns errTooLarge at the end, so the association stays in
// step. A write error is kept the same way and returned at the end as
// *sinkError.
func (c *conn) readData(pcid byte, w io.Writer, limit int64) (int64, error) {
	var n int64
	var sinkErr error
	for {
		v, err := c.nextPDV()
		if err != nil {
			return n, err
		}
		if v.Command || v.ContextID != pcid {
			return n, pduErrf(AbortReasonUnexpectedPDU, "command fragment or context %d inside a data set on context %d", v.ContextID, pcid)
		}
		n += int64(len(v.Data))
		if sinkErr == nil {
			if n > limit {
				sinkErr = errTooLarge
			} else if _, err := w.Write(v.Data); err != nil {
				sinkErr = &sinkError{err}
			}
		}
		if v.Last {
			return n, sinkErr
		}
	}
}

var errTooLarge = errors.New("dimse: data set is larger than the configured maximum")

type sinkError struct{ err error }

func (e *sinkError) Error() string { return e.err.Error() }
func (e *sinkError) Unwrap() error { return e.err }

// writePDU encodes and writes one PDU.
func (c *conn) writePDU(p PDU) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = EncodePDU(c.wbuf[:0], p)
	return c.write(c.wbuf)
}

func (c *conn) write(b []byte) error {
	c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.nc.Write(b)
	if c.quickAck != nil {
		// Sending data puts Linux back in delayed-ACK ("pingpong") mode
		// for what the peer sends next; leave it again.
		c.quickAck()
	}
	return err
}

// writeMessage sends a command set and, when data is not nil, size bytes of
// data set read from data, each fragmented to the peer's maximum length.
func (c *conn) writeMessage(pcid byte, cmd *Command, data io.Reader, size int64) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	maxPayload := int(c.maxSend) - 6
	enc := cmd.Encode()
	buf := c.wbuf[:0]
	for len(enc) > 0 {
		k := min(len(enc), maxPayload)
		last := k == len(enc)
		buf = appendPDVPDU(buf, pcid, true, last, enc[:k])
		enc = enc[k:]
		if !last {
			if err := c.write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	if data == nil {
		c.wbuf = buf
		return c.write(buf)
	}
	if err := c.write(buf); err != nil {
		return err
	}
	need := pduHeaderLen + 6 + maxPayload
	if cap(buf) < need {
		buf = make([]byte, need)
	}
	c.wbuf = buf
	for first := true; first || size > 0; first = false {
		k := int(min(int64(maxPayload), size))
		buf = buf[:pduHeaderLen+6+k]
		if _, err := io.ReadFull(data, buf[pduHeaderLen+6:]); err != nil {
			return fmt.Errorf("dimse: reading the data set to send: %w", err)
		}
		size -= int64(k)
		buf[0], buf[1] = TypePDataTF, 0
		binary.BigEndian.PutUint32(buf[2:], uint32(6+k))
		binary.BigEndian.PutUint32(buf[6:], uint32(2+k))
		buf[10], buf[11] = pcid, mch(false, size == 0)
		if err := c.write(buf); err != nil {
			return err
		}
	}
	return nil
}

func appendPDVPDU(dst []byte, pcid byte, command, last bool, data []byte) []byte {
	dst = append(dst, TypePDataTF, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(6+len(data)))
	dst = binary.BigEndian.AppendUint32(dst, uint32(2+len(data)))
	dst = append(dst, pcid, mch(command, last))
	return append(dst, data...)
}
