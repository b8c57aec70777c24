package amx

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// The guard is irreversible, so each case runs in a child process: the test
// binary re-executes itself with amxChild naming what to do.
const childEnv = "METSENTRY_AMX_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "block-then-request":
		st, err := Block()
		if err != nil {
			println("block:", err.Error())
			os.Exit(2)
		}
		if !implemented {
			if st != StateNotSupported {
				println("state without an implementation:", string(st))
				os.Exit(7)
			}
			os.Exit(0)
		}
		if !HasAMX() {
			if st != StateNoAMX {
				println("state without AMX:", string(st))
				os.Exit(6)
			}
			os.Exit(0)
		}
		if st != StateBlocked {
			println("state:", string(st))
			os.Exit(3)
		}
		// A second request, from another goroutine and so possibly another
		// thread, must also fail: TSYNC put the filter on every thread.
		done := make(chan error)
		go func() { done <- Request() }()
		if err := <-done; !errors.Is(err, syscall.EPERM) {
			println("request after block:", err)
			os.Exit(4)
		}
		if p, _ := Permitted(); p {
			os.Exit(5)
		}
		os.Exit(0)
	case "request-then-block":
		if err := Request(); err != nil {
			println("request:", err.Error())
			os.Exit(2)
		}
		if _, err := Block(); !errors.Is(err, ErrAlreadyPermitted) {
			println("block after grant:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(9)
}

func child(t *testing.T, what string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+what)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child %s: %v\n%s", what, err, out)
	}
}

func TestBlock(t *testing.T) {
	// Without AMX the first case checks that Block says so and does nothing.
	t.Run("request after block fails with EPERM on every thread", func(t *testing.T) { child(t, "block-then-request") })
	if !HasAMX() || !implemented {
		t.Logf("no AMX on this CPU or no guard in this build (linux/amd64 with cgo only): only that path was checked")
		return
	}
	t.Run("block after a grant reports it", func(t *testing.T) { child(t, "request-then-block") })
}

func TestHasAMX(t *testing.T) {
	for _, tc := range []struct {
		name, cpuinfo string
		want          bool
	}{
		{"sapphire rapids", "processor\t: 0\nflags\t\t: fpu avx512f amx_bf16 avx512_fp16 amx_tile amx_int8\n", true},
		{"skylake", "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_vnni\n", false},
		{"no flags line", "processor\t: 0\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "cpuinfo")
			if err := os.WriteFile(p, []byte(tc.cpuinfo), 0o600); err != nil {
				t.Fatal(err)
			}
			old := cpuinfoPath
			cpuinfoPath = p
			defer func() { cpuinfoPath = old }()
			if got := HasAMX(); got != tc.want {
				t.Fatalf("HasAMX = %v, want %v", got, tc.want)
			}
		})
	}
}
