package sim

import (
	"fmt"
	"os"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal whose master is registered with Go's
// poller, so that Close unblocks a pending Read and write deadlines work.
// creack/pty hands back a master in blocking mode, whose Read a Close cannot
// interrupt (the fd would stay open until the peer writes).
func openPTY() (master, tty *os.File, err error) {
	m, t, err := pty.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("sim: open a pseudo-terminal: %w", err)
	}
	fd, err := unix.Dup(int(m.Fd()))
	m.Close()
	if err != nil {
		t.Close()
		return nil, nil, fmt.Errorf("sim: dup the pty master: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		t.Close()
		return nil, nil, fmt.Errorf("sim: pty master non-blocking: %w", err)
	}
	unix.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), "/dev/ptmx"), t, nil
}
