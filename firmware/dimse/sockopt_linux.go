//go:build linux

package dimse

import (
	"net"
	"syscall"
)

// quickAckFunc returns a function that sets TCP_QUICKACK on a TCP
// connection. Linux clears the flag again on its own, so it is set after
// every PDU read: a stock sender with Nagle's algorithm on holds its last
// small segment until our ACK arrives, and a delayed ACK costs it ~40 ms per
// message.
func quickAckFunc(nc net.Conn) func() {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	tc.SetNoDelay(true)
	raw, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	set := func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1) }
	return func() { raw.Control(set) }
}
