package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"metsentry/boards"
	"metsentry/firmware/config"
	"metsentry/firmware/testenv"
	"metsentry/firmware/update"
	"metsentry/runtime/trust"
)

// ortLib is ONNX Runtime for arch from the cache `./build.sh deps` fills.
func ortLib(t *testing.T, arch string) string {
	t.Helper()
	dir := map[string]string{"amd64": "linux-x64", "arm64": "linux-arm64"}[arch]
	p := os.Getenv("METSENTRY_ORT_LIB")
	if c := os.Getenv("METSENTRY_CACHE"); c != "" {
		p = filepath.Join(c, "ort", "1.24.1", dir, "libonnxruntime.so.1")
	} else if p == "" || arch != "amd64" {
		p = filepath.Join(testenv.RepoRoot(t), ".cache", "ort", "1.24.1", dir, "libonnxruntime.so.1")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("ONNX Runtime for %s is missing (run ./build.sh deps): %v", arch, err)
	}
	return p
}

// goBuild builds a main package of the repository for GOARCH arch.
func goBuild(t *testing.T, pkg, arch string, cgo bool) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command(testenv.Program(t, "go"), "build", "-o", out, "./"+pkg)
	cmd.Dir = testenv.RepoRoot(t)
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0")
	if cgo {
		cmd.Env = append(cmd.Env, "CGO_ENABLED=1")
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// daemonBinary builds metsentryd for this machine (the Go build cache makes
// the second call cheap).
func daemonBinary(t *testing.T) string {
	t.Helper()
	if goruntime.GOARCH != "amd64" {
		t.Skipf("the amd64 package is tested on amd64 machines, this one is %s", goruntime.GOARCH)
	}
	return goBuild(t, "firmware/cmd/metsentryd", "amd64", true)
}

func buildDeb(t *testing.T, s Spec) string {
	t.Helper()
	if s.Root == "" {
		s.Root = testenv.RepoRoot(t)
	}
	s.Maintainer = "test <test@metsentry.invalid>"
	s.MTime = time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	path, _, err := run(s, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(testenv.Program(t, name), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// scratchRoot makes a root for dpkg --root in which maintainer scripts run
// chrooted (dpkg chroots into --root): the host's /bin/sh with its
// libraries, and stubs for every command postinst runs, each appending its
// arguments to /stub.log. Nothing the scripts do can reach this machine: no
// user is created on it, no file of it changes.
func scratchRoot(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("dpkg chroots into --root to run maintainer scripts, which needs root")
	}
	r := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "bin", "usr/bin", "dev", "tmp"} {
		if err := os.MkdirAll(filepath.Join(r, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
		if err := os.WriteFile(filepath.Join(r, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	shell, err := filepath.EvalSymlinks("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	copyFile(t, shell, filepath.Join(r, "bin", "sh"), 0o755)
	// ldd prints "name => /path (addr)" and "/lib64/ld-linux... (addr)".
	for _, m := range regexp.MustCompile(`(?m)(/\S+) \(0x`).FindAllStringSubmatch(sh(t, "ldd", shell), -1) {
		copyFile(t, m[1], filepath.Join(r, m[1]), 0o755)
	}
	for _, c := range []string{"adduser", "chown", "chmod", "mkdir", "systemctl", "udevadm"} {
		stub := "#!/bin/sh\necho \"" + c + " $*\" >> /stub.log\n"
		if err := os.WriteFile(filepath.Join(r, "usr", "bin", c), []byte(stub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// getent: groups dialout and video exist, gpio does not (an x86 box).
	getent := "#!/bin/sh\necho \"getent $*\" >> /stub.log\n[ \"$2\" = dialout ] || [ \"$2\" = video ]\n"
	if err := os.WriteFile(filepath.Join(r, "usr", "bin", "getent"), []byte(getent), 0o755); err != nil {
		t.Fatal(err)
	}
	return r
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}

// dpkgInstall installs deb into root: unpack, then configure with postinst
// chrooted in root. --force-depends: the scratch root has no libc6 package.
func dpkgInstall(t *testing.T, root, deb string) string {
	t.Helper()
	return sh(t, "dpkg", "--root="+root, "--force-not-root", "--force-depends", "-i", deb)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPackageInstallsIntoScratchRoot builds the amd64 package from a real
// metsentryd, checks its control data, installs it into a scratch root,
// runs the installed daemon's --check on the installed files, verifies the
// installed models, asks systemd-analyze about the unit, and upgrades it
// over a field engineer's edit of the site file.
func TestPackageInstallsIntoScratchRoot(t *testing.T) {
	deb := buildDeb(t, Spec{Arch: "amd64", Version: "0.1.0", Daemon: daemonBinary(t), Ctl: goBuild(t, "tools/metctl", "amd64", false), ORT: ortLib(t, "amd64")})

	fields := map[string]string{}
	for _, f := range []string{"Package", "Version", "Architecture", "Depends"} {
		fields[f] = strings.TrimSpace(sh(t, "dpkg-deb", "--field", deb, f))
	}
	if d := cmp.Diff(map[string]string{"Package": "metsentry", "Version": "0.1.0", "Architecture": "amd64",
		"Depends": "adduser, libc6 (>= 2.34), libstdc++6, libgcc-s1"}, fields); d != "" {
		t.Errorf("control fields (-want +got):\n%s", d)
	}

	root := scratchRoot(t)
	dpkgInstall(t, root, deb)
	status := sh(t, "dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"), "-W", "-f=${Status}|${Version}|${Conffiles}", "metsentry")
	if !strings.HasPrefix(status, "install ok installed|0.1.0|") {
		t.Errorf("status %q, want installed 0.1.0", status)
	}
	var conffiles []string
	for _, l := range strings.Split(strings.SplitN(status, "|", 3)[2], "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			conffiles = append(conffiles, f[0])
		}
	}
	if d := cmp.Diff([]string{DefaultsTo, SitePath}, conffiles); d != "" {
		t.Errorf("conffiles (-want +got):\n%s", d)
	}

	var listed []string
	for _, l := range strings.Split(sh(t, "dpkg", "--root="+root, "-L", "metsentry"), "\n") {
		if st, err := os.Lstat(filepath.Join(root, l)); err == nil && !st.IsDir() {
			listed = append(listed, l)
		}
	}
	slices.Sort(listed)
	want := []string{DefaultsTo, SitePath, UdevPath, UnitPath, BinPath, CtlPath, LibPath,
		DocDir + "/MODEL.md", DocDir + "/README.md"}
	for _, f := range []string{"metnet-fp32.manifest.json", "metnet-fp32.manifest.json.sig", "metnet-fp32.onnx",
		"metnet-int8.manifest.json", "metnet-int8.manifest.json.sig", "metnet-int8.onnx",
		"ref-fp32.f32", "ref-input.f32", "ref-int8.f32"} {
		want = append(want, ModelDir+"/"+f)
	}
	keys, err := filepath.Glob(filepath.Join(testenv.RepoRoot(t), "models", "trust", "*.pub"))
	if err != nil || len(keys) == 0 {
		t.Fatalf("no public keys in models/trust: %v", err)
	}
	for _, k := range keys {
		want = append(want, TrustDir+"/"+filepath.Base(k))
	}
	slices.Sort(want)
	if d := cmp.Diff(want, listed); d != "" {
		t.Errorf("installed files (-want +got):\n%s", d)
	}
	if st, err := os.Stat(filepath.Join(root, DataDir)); err != nil || !st.IsDir() || st.Mode().Perm() != 0o750 {
		t.Errorf("%s: %v %v, want a 0750 folder", DataDir, st, err)
	}
	if got := readFile(t, filepath.Join(root, DefaultsTo)); !strings.Contains(got, "\nMETSENTRY_BOARD=x86-devkit\n") {
		t.Errorf("%s does not name the x86-devkit board:\n%s", DefaultsTo, got)
	}

	// What postinst did, chrooted, through the stubs.
	wantLog := []string{
		"adduser --system --group --home /var/lib/metsentry --no-create-home --gecos metsentry daemon metsentry",
		"getent group dialout", "adduser metsentry dialout",
		"getent group gpio",
		"getent group video", "adduser metsentry video",
		"mkdir -p /var/lib/metsentry", "chown metsentry:metsentry /var/lib/metsentry", "chmod 0750 /var/lib/metsentry",
		"chown root:metsentry /etc/metsentry", "chmod 0750 /etc/metsentry",
		"chown root:metsentry /etc/metsentry/site.yaml", "chmod 0640 /etc/metsentry/site.yaml",
	}
	if d := cmp.Diff(wantLog, strings.Split(strings.TrimSpace(readFile(t, filepath.Join(root, "stub.log"))), "\n")); d != "" {
		t.Errorf("postinst commands (-want +got):\n%s", d)
	}

	// The installed daemon accepts the installed site file with its board.
	out, err := exec.Command(filepath.Join(root, BinPath), "--check", "--board", "x86-devkit", "--site", filepath.Join(root, SitePath)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": ok") {
		t.Errorf("installed metsentryd --check: %v\n%s", err, out)
	}
	// The installed metctl runs and, with no daemon, says so.
	out, err = exec.Command(filepath.Join(root, CtlPath), "--socket", filepath.Join(root, DataDir, "run", "control.sock"), "status").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "the daemon is not running") {
		t.Errorf("installed metctl status without a daemon: %v\n%s", err, out)
	}
	// The installed models verify against the installed trust store.
	store, err := trust.LoadStore(filepath.Join(root, TrustDir))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"metnet-int8.manifest.json", "metnet-fp32.manifest.json"} {
		if _, err := trust.Verify(filepath.Join(root, ModelDir, m), store); err != nil {
			t.Errorf("installed %s: %v", m, err)
		}
	}

	t.Run("systemd-analyze verify", func(t *testing.T) { verifyUnit(t, root) })

	// Upgrade over an edited site file: the edit stays, the version moves.
	// The engineer also moved the box to a Jetson board: postinst then
	// masks the kernel's serial login on the console's UART.
	edited := readFile(t, filepath.Join(root, SitePath)) + "# edited by the field engineer\n"
	if err := os.WriteFile(filepath.Join(root, SitePath), []byte(edited), 0o640); err != nil {
		t.Fatal(err)
	}
	defaults := strings.Replace(readFile(t, filepath.Join(root, DefaultsTo)), "METSENTRY_BOARD=x86-devkit", "METSENTRY_BOARD=jetson-orin-nano", 1)
	if err := os.WriteFile(filepath.Join(root, DefaultsTo), []byte(defaults), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(root, "stub.log")); err != nil {
		t.Fatal(err)
	}
	dpkgInstall(t, root, buildDeb(t, Spec{Arch: "amd64", Version: "0.1.1", Daemon: daemonBinary(t), ORT: ortLib(t, "amd64")}))
	if got := readFile(t, filepath.Join(root, SitePath)); got != edited {
		t.Errorf("the upgrade replaced the edited %s", SitePath)
	}
	if _, err := os.Stat(filepath.Join(root, SitePath+".dpkg-new")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s.dpkg-new left behind: %v", SitePath, err)
	}
	if v := sh(t, "dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"), "-W", "-f=${Version}", "metsentry"); v != "0.1.1" {
		t.Errorf("version after upgrade %q, want 0.1.1", v)
	}
	if got := readFile(t, filepath.Join(root, "stub.log")); !strings.HasPrefix(got, "adduser --system") {
		t.Errorf("postinst did not run on upgrade: %q", got)
	} else if !strings.Contains(got, "\nsystemctl mask serial-getty@ttyTCU0.service\n") {
		t.Errorf("postinst on a Jetson board did not mask serial-getty@ttyTCU0:\n%s", got)
	}
}

// verifyUnit runs systemd-analyze verify on the installed unit in root, with
// this machine's systemd units copied in (the unit needs sysinit.target and
// the others a box with systemd has). Any message fails: systemd-analyze
// exits 0 even on a value it ignores. A broken copy shows the check bites.
func verifyUnit(t *testing.T, root string) {
	units, err := filepath.Glob("/usr/lib/systemd/system/*.target")
	if err != nil || len(units) == 0 {
		t.Fatalf("no systemd targets in /usr/lib/systemd/system (is the systemd package installed? ./build.sh deps): %v", err)
	}
	for _, u := range units {
		copyFile(t, u, filepath.Join(root, u), 0o644)
	}
	unit := readFile(t, filepath.Join(root, UnitPath))
	for _, tc := range []struct {
		name   string
		edited string // a copy of the unit in /etc/systemd/system; "" verifies the installed one
		noBin  bool   // metsentryd moved away
		want   string // "" for silence and exit 0
	}{
		{name: "installed unit"},
		{name: "a typo is reported", edited: strings.Replace(unit, "WatchdogSec=30s", "WatchdogSec=thirty", 1), want: "Failed to parse sec value"},
		{name: "a missing daemon is reported", noBin: true, want: "is not executable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := UnitPath
			if tc.edited != "" {
				path = "/etc/systemd/system/metsentry.service"
				f := filepath.Join(root, path)
				if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(f, []byte(tc.edited), 0o644); err != nil {
					t.Fatal(err)
				}
				defer os.Remove(f)
			}
			if tc.noBin {
				bin := filepath.Join(root, BinPath)
				if err := os.Rename(bin, bin+".away"); err != nil {
					t.Fatal(err)
				}
				defer os.Rename(bin+".away", bin)
			}
			out, err := exec.Command(testenv.Program(t, "systemd-analyze"), "verify", "--root="+root, path).CombinedOutput()
			if tc.want == "" {
				if err != nil || len(out) > 0 {
					t.Errorf("systemd-analyze verify %s: %v\n%s", path, err, out)
				}
				return
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("systemd-analyze verify said %q (%v), want %q", out, err, tc.want)
			}
		})
	}
}

// TestPackageArm64 packages an aarch64 binary with ONNX Runtime's arm64
// build: a stand-in for metsentryd (a pure-Go program cross-built here; the
// real one needs the cross C compiler, ./build.sh package builds it).
func TestPackageArm64(t *testing.T) {
	stand := goBuild(t, "tools/mkdeb", "arm64", false)
	deb := buildDeb(t, Spec{Arch: "arm64", Version: "0.1.0", Daemon: stand, ORT: ortLib(t, "arm64")})
	if got := strings.TrimSpace(sh(t, "dpkg-deb", "--field", deb, "Architecture")); got != "arm64" {
		t.Errorf("Architecture %q", got)
	}
	x := t.TempDir()
	sh(t, "dpkg-deb", "-x", deb, x)
	if got := readFile(t, filepath.Join(x, DefaultsTo)); !strings.Contains(got, "\nMETSENTRY_BOARD=jetson-orin-nano\n") {
		t.Errorf("%s does not name jetson-orin-nano:\n%s", DefaultsTo, got)
	}
	if got := sh(t, "file", "-L", filepath.Join(x, LibPath)); !strings.Contains(got, "ARM aarch64") {
		t.Errorf("%s: %s", LibPath, got)
	}
}

// TestBuildRefuses: what must not become a package.
func TestBuildRefuses(t *testing.T) {
	repo := testenv.RepoRoot(t)
	daemon := daemonBinary(t)
	// A copy of what the package is built from, with one model byte changed.
	tampered := t.TempDir()
	for _, d := range []string{"tools/mkdeb/debian", "models/trust", "models/metnet"} {
		if err := os.CopyFS(filepath.Join(tampered, d), os.DirFS(filepath.Join(repo, d))); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"README.md", "models/MODEL.md", "firmware/cmd/metsentryd/site.example.yaml"} {
		copyFile(t, filepath.Join(repo, f), filepath.Join(tampered, f), 0o644)
	}
	onnx := filepath.Join(tampered, "models/metnet/metnet-int8.onnx")
	b := []byte(readFile(t, onnx))
	b[len(b)/2] ^= 1
	if err := os.WriteFile(onnx, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		s    Spec
		want string
	}{
		{"unknown architecture", Spec{Arch: "riscv64", Root: repo, Daemon: daemon, ORT: ortLib(t, "amd64")}, `architecture "riscv64" is not packaged`},
		{"amd64 daemon in the arm64 package", Spec{Arch: "arm64", Root: repo, Daemon: daemon, ORT: ortLib(t, "arm64")}, "is for EM_X86_64, not arm64"},
		{"arm64 ONNX Runtime in the amd64 package", Spec{Arch: "amd64", Root: repo, Daemon: daemon, ORT: ortLib(t, "arm64")}, "is for EM_AARCH64, not amd64"},
		{"not an ELF file", Spec{Arch: "amd64", Root: repo, Daemon: filepath.Join(repo, "README.md"), ORT: ortLib(t, "amd64")}, "expected an ELF file"},
		{"a model altered by one byte", Spec{Arch: "amd64", Root: tampered, Daemon: daemon, ORT: ortLib(t, "amd64")}, "model metnet-int8.manifest.json does not verify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.s.Work = t.TempDir()
			tc.s.Version = "0.1.0"
			_, err := Build(tc.s, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Build: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestBoardsUsePackagedLibrary: every board for real hardware loads ONNX
// Runtime from where the package installs it (sim runs from the repository).
func TestBoardsUsePackagedLibrary(t *testing.T) {
	for _, name := range boards.Names() {
		if name == "sim" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			data, file, _ := boards.File(name)
			b, err := config.ParseBoard(file, data)
			if err != nil {
				t.Fatal(err)
			}
			if b.Inference.Library != LibPath {
				t.Errorf("%s: inference.library %s, the package installs %s", file, b.Inference.Library, LibPath)
			}
		})
	}
}

func TestVersionLess(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"", "2.2.5", true},
		{"2.17", "2.34", true},
		{"2.34", "2.17", false},
		{"2.3", "2.3.4", true},
		{"2.34", "2.34", false},
		{"2.34", "PRIVATE", false},
	} {
		if got := versionLess(tc.a, tc.b); got != tc.want {
			t.Errorf("versionLess(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestUnitRestartsIntoSlot: after a passed metctl model install the daemon
// exits update.ExitRestart; the unit must count that as a clean stop and
// start /usr/bin/metsentryd again at once (which hands over to the current
// slot, firmware/cmd/metsentryd/slots.go). systemd-analyze verify checks
// the syntax in TestPackageInstallsIntoScratchRoot.
func TestUnitRestartsIntoSlot(t *testing.T) {
	unit := readFile(t, filepath.Join("debian", "metsentry.service"))
	values := map[string][]string{}
	for _, l := range strings.Split(unit, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			values[k] = append(values[k], v)
		}
	}
	code := strconv.Itoa(update.ExitRestart)
	for _, tc := range []struct {
		key  string
		want string // a word the key's value must hold
	}{
		{"SuccessExitStatus", code},
		{"RestartForceExitStatus", code},
		{"Restart", "on-failure"},
		{"ExecStart", BinPath},
	} {
		t.Run(tc.key, func(t *testing.T) {
			if len(values[tc.key]) != 1 {
				t.Fatalf("%s= is set %d times, want once", tc.key, len(values[tc.key]))
			}
			if f := strings.Fields(values[tc.key][0]); !slices.Contains(f, tc.want) {
				t.Errorf("%s=%s does not hold %s", tc.key, values[tc.key][0], tc.want)
			}
		})
	}
}
