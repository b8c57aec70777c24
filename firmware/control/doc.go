// Package control is the local link between the daemon and tools/metctl,
// the field engineer's command: a unix socket in the daemon's data folder
// (run/control.sock, mode 0660, owned by the daemon's user and group), never
// a network port, so only root and members of the daemon's group reach it.
//
// One connection carries one request: the client writes a Request as one
// JSON line; the server answers with zero or more Message lines (progress,
// text) and ends with a final Message holding the result or the error.
// Serve (server.go) runs the socket for the daemon; Call (client.go) is the
// client, and turns "no socket" and "permission denied" into errors that say
// what to do. The request and result types (proto.go) are shared by both.
package control
