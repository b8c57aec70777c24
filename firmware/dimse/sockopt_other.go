//go:build !linux

package dimse

import "net"

// quickAckFunc only turns Nagle's algorithm off where TCP_QUICKACK does not
// exist.
func quickAckFunc(nc net.Conn) func() {
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	return nil
}
