//go:build linux && amd64 && cgo

package amx

/*
#include <errno.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#define MS_ARCH_GET_XCOMP_PERM 0x1022
#define MS_ARCH_REQ_XCOMP_PERM 0x1023
#define MS_XFEATURE_XTILEDATA 18

// ms_amx_permitted returns 1 when XTILEDATA is permitted, 0 when not,
// -errno when the kernel cannot say (older than 5.16).
static int ms_amx_permitted(void) {
	unsigned long mask = 0;
	if (syscall(SYS_arch_prctl, MS_ARCH_GET_XCOMP_PERM, &mask) != 0) return -errno;
	return (mask >> MS_XFEATURE_XTILEDATA) & 1;
}

// ms_amx_request asks for XTILEDATA as MLAS does; 0 or -errno.
static int ms_amx_request(void) {
	if (syscall(SYS_arch_prctl, MS_ARCH_REQ_XCOMP_PERM, MS_XFEATURE_XTILEDATA) != 0) return -errno;
	return 0;
}

// ms_amx_block installs a filter, on every thread, that fails
// arch_prctl(ARCH_REQ_XCOMP_PERM, ...) with EPERM. The kernel takes the option
// as an int, so comparing the low 32 bits of args[0] is exact.
static int ms_amx_block(void) {
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_arch_prctl, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, MS_ARCH_REQ_XCOMP_PERM, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -errno;
	long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
	if (r < 0) return -errno;
	if (r > 0) return -ESRCH; // a thread could not be synchronised (r is its id)
	return 0;
}
*/
import "C"

import (
	"fmt"
	"syscall"
)

// implemented says this build has the guard (tests use it).
const implemented = true

func block() (State, error) {
	if !HasAMX() {
		return StateNoAMX, nil
	}
	switch p := C.ms_amx_permitted(); {
	case p == 1:
		return "", ErrAlreadyPermitted
	case p < 0:
		// The kernel predates dynamic xstate permissions (5.16): then it never
		// grants AMX to anyone, so there is nothing to block.
		return StateNoAMX, nil
	}
	if r := C.ms_amx_block(); r != 0 {
		return "", fmt.Errorf("amx: cannot install the seccomp filter that blocks AMX: %w", syscall.Errno(-r))
	}
	if r := C.ms_amx_request(); r != -C.EPERM {
		return "", fmt.Errorf("amx: guard installed but an AMX request still returned %d (want EPERM)", int(r))
	}
	return StateBlocked, nil
}

// Permitted reports whether this process may use AMX tile data now.
func Permitted() (bool, error) {
	p := C.ms_amx_permitted()
	if p < 0 {
		return false, fmt.Errorf("amx: arch_prctl(ARCH_GET_XCOMP_PERM): %w", syscall.Errno(-p))
	}
	return p == 1, nil
}

// Request asks the kernel for AMX tile data the way MLAS does and returns the
// kernel's answer (nil when granted). Tests use it to see the guard work.
func Request() error {
	if r := C.ms_amx_request(); r != 0 {
		return fmt.Errorf("amx: arch_prctl(ARCH_REQ_XCOMP_PERM): %w", syscall.Errno(-r))
	}
	return nil
}
