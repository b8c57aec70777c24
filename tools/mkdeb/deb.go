package main

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"

	"metsentry/boards"
	"metsentry/firmware/config"
	"metsentry/runtime/trust"
)

// Where the package puts things. The board files name LibDir's library as
// inference.library; the unit names the model and trust folders.
const (
	BinPath    = "/usr/bin/metsentryd"
	CtlPath    = "/usr/bin/metctl"
	LibDir     = "/usr/lib/metsentry"
	LibPath    = LibDir + "/libonnxruntime.so.1"
	ShareDir   = "/usr/share/metsentry"
	ModelDir   = ShareDir + "/models/metnet"
	TrustDir   = ShareDir + "/models/trust"
	UnitPath   = "/lib/systemd/system/metsentry.service"
	UdevPath   = "/lib/udev/rules.d/60-metsentry.rules"
	DefaultsTo = "/etc/default/metsentry"
	SitePath   = "/etc/metsentry/site.yaml"
	DataDir    = "/var/lib/metsentry"
	DocDir     = "/usr/share/doc/metsentry"
)

// DefaultBoard is the board /etc/default/metsentry names for each
// architecture; the field engineer changes it for another board.
var DefaultBoard = map[string]string{"amd64": "x86-devkit", "arm64": "jetson-orin-nano"}

// Spec is what one package is built from.
type Spec struct {
	Arch       string    // amd64 or arm64 (Go and Debian spell them alike)
	Version    string    // Debian version, e.g. 0.1.0+git20261206.51b39dc
	Maintainer string    // "name <email>"
	Root       string    // the repository: models/, boards, tools/mkdeb/debian/, the site example
	Daemon     string    // metsentryd built for Arch
	Ctl        string    // metctl built for Arch (pure Go); "" leaves it out
	ORT        string    // libonnxruntime.so.1 for Arch
	MTime      time.Time // every file's time, for a reproducible package
	Work       string    // a scratch folder for generated files
}

// elfMachine is the ELF machine of each architecture.
var elfMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// Build writes the .deb for s to w and returns its file list (destination
// paths, sorted) for the caller's report.
func Build(s Spec, w io.Writer) ([]string, error) {
	board, ok := DefaultBoard[s.Arch]
	if !ok {
		return nil, fmt.Errorf("mkdeb: architecture %q is not packaged (use amd64 or arm64)", s.Arch)
	}
	if err := checkBoard(board, s.Arch); err != nil {
		return nil, err
	}
	glibc, libs, err := checkELF(s.Daemon, s.Arch)
	if err != nil {
		return nil, err
	}
	oglibc, olibs, err := checkELF(s.ORT, s.Arch)
	if err != nil {
		return nil, err
	}
	if versionLess(glibc, oglibc) {
		glibc = oglibc
	}
	deps := []string{"adduser"}
	if glibc != "" {
		deps = append(deps, "libc6 (>= "+glibc+")")
	}
	for _, l := range append(libs, olibs...) {
		// Beyond glibc, only the C++ runtime ONNX Runtime needs.
		p := map[string]string{"libstdc++.so.6": "libstdc++6", "libgcc_s.so.1": "libgcc-s1"}[l]
		if p != "" && !slices.Contains(deps, p) {
			deps = append(deps, p)
		}
	}

	contents, err := contents(s, board)
	if err != nil {
		return nil, err
	}
	debDir := filepath.Join(s.Root, "tools", "mkdeb", "debian")
	info := &nfpm.Info{
		Name:        "metsentry",
		Arch:        s.Arch,
		Platform:    "linux",
		Version:     s.Version,
		Section:     "science",
		Priority:    "optional",
		Maintainer:  s.Maintainer,
		Description: "brain-metastasis detector for an MR scanner (DICOM in, DICOM SEG/SR out)\nmetsentryd receives contrast-enhanced 3D T1 studies from the scanner console,\nfinds possible brain metastases with a quantized 3D CNN (ONNX Runtime) and\nsends DICOM SEG, SR (TID 1500) and an annotated series to PACS. Not a medical\ndevice. Includes ONNX Runtime 1.24.1 (MIT licence) and the signed model.",
		MTime:       s.MTime,
		Overridables: nfpm.Overridables{
			Depends:    deps,
			Recommends: []string{"systemd"},
			Suggests:   []string{"dcmtk"},
			Contents:   contents,
			Scripts: nfpm.Scripts{
				PostInstall: filepath.Join(debDir, "postinst"),
				PreRemove:   filepath.Join(debDir, "prerm"),
				PostRemove:  filepath.Join(debDir, "postrm"),
			},
			Deb: nfpm.Deb{Compression: "zstd"},
		},
	}
	if err := nfpm.PrepareForPackager(nfpm.WithDefaults(info), "deb"); err != nil {
		return nil, fmt.Errorf("mkdeb: %w", err)
	}
	if err := deb.Default.Package(info, w); err != nil {
		return nil, fmt.Errorf("mkdeb: %w", err)
	}
	var list []string
	for _, c := range info.Contents {
		if c.Type != files.TypeImplicitDir {
			list = append(list, c.Destination)
		}
	}
	slices.Sort(list)
	return list, nil
}

// contents lists the package's files. The models are the signed manifests in
// models/metnet that verify against models/trust, with every file their
// signature covers; a model that does not verify is not packaged.
func contents(s Spec, board string) (files.Contents, error) {
	file := func(src, dst string, mode os.FileMode) *files.Content {
		return &files.Content{Source: src, Destination: dst, FileInfo: &files.ContentFileInfo{Mode: mode, Owner: "root", Group: "root"}}
	}
	debDir := filepath.Join(s.Root, "tools", "mkdeb", "debian")
	defaults, err := os.ReadFile(filepath.Join(debDir, "metsentry.default"))
	if err != nil {
		return nil, fmt.Errorf("mkdeb: %w", err)
	}
	defaultsFile := filepath.Join(s.Work, "metsentry.default")
	if err := os.WriteFile(defaultsFile, []byte(strings.ReplaceAll(string(defaults), "@BOARD@", board)), 0o644); err != nil {
		return nil, fmt.Errorf("mkdeb: %w", err)
	}
	c := files.Contents{
		file(s.Daemon, BinPath, 0o755),
		file(s.ORT, LibPath, 0o644),
		file(filepath.Join(debDir, "metsentry.service"), UnitPath, 0o644),
		file(filepath.Join(debDir, "60-metsentry.rules"), UdevPath, 0o644),
		file(filepath.Join(s.Root, "README.md"), DocDir+"/README.md", 0o644),
		file(filepath.Join(s.Root, "models", "MODEL.md"), DocDir+"/MODEL.md", 0o644),
		{Destination: DataDir, Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o750}},
	}
	if s.Ctl != "" {
		if _, _, err := checkELF(s.Ctl, s.Arch); err != nil {
			return nil, err
		}
		c = append(c, file(s.Ctl, CtlPath, 0o755))
	}
	for _, cf := range []*files.Content{
		file(defaultsFile, DefaultsTo, 0o644),
		file(filepath.Join(s.Root, "firmware", "cmd", "metsentryd", "site.example.yaml"), SitePath, 0o640),
	} {
		cf.Type = files.TypeConfigNoReplace // kept on upgrade
		c = append(c, cf)
	}

	trustSrc := filepath.Join(s.Root, "models", "trust")
	store, err := trust.LoadStore(trustSrc)
	if err != nil {
		return nil, fmt.Errorf("mkdeb: trust store: %w", err)
	}
	keys, err := filepath.Glob(filepath.Join(trustSrc, "*.pub"))
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		c = append(c, file(k, TrustDir+"/"+filepath.Base(k), 0o644))
	}
	manifests, err := filepath.Glob(filepath.Join(s.Root, "models", "metnet", "*.manifest.json"))
	if err != nil {
		return nil, err
	}
	if len(manifests) == 0 {
		return nil, errors.New("mkdeb: no model manifests in models/metnet")
	}
	seen := map[string]bool{}
	for _, m := range manifests {
		v, err := trust.Verify(m, store)
		if err != nil {
			return nil, fmt.Errorf("mkdeb: model %s does not verify, not packaging it: %w", filepath.Base(m), err)
		}
		names := []string{filepath.Base(m), filepath.Base(m) + trust.SigSuffix, v.Manifest.File}
		for n := range v.Files {
			names = append(names, n)
		}
		for _, n := range names {
			if !seen[n] {
				seen[n] = true
				c = append(c, file(filepath.Join(v.Dir, n), ModelDir+"/"+n, 0o644))
			}
		}
	}
	return c, nil
}

// checkBoard makes sure the default board is built in, is for arch, and
// loads ONNX Runtime from where the package puts it.
func checkBoard(name, arch string) error {
	data, file, ok := boards.File(name)
	if !ok {
		return fmt.Errorf("mkdeb: default board %s is not built in", name)
	}
	b, err := config.ParseBoard(file, data)
	if err != nil {
		return fmt.Errorf("mkdeb: %w", err)
	}
	if b.Arch != arch {
		return fmt.Errorf("mkdeb: default board %s is for %s, not %s", name, b.Arch, arch)
	}
	if b.Inference.Library != LibPath {
		return fmt.Errorf("mkdeb: %s: inference.library is %s, but the package installs ONNX Runtime as %s", file, b.Inference.Library, LibPath)
	}
	return nil
}

// checkELF checks that path is an ELF file for arch and returns the highest
// glibc symbol version it needs ("2.34", or "" for none) and the shared
// libraries it names.
func checkELF(path, arch string) (glibc string, libs []string, err error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", nil, fmt.Errorf("mkdeb: %s: %w (expected an ELF file for linux/%s)", path, err, arch)
	}
	defer f.Close()
	if f.Machine != elfMachine[arch] {
		return "", nil, fmt.Errorf("mkdeb: %s is for %v, not %s (for arm64 run ./build.sh cross first)", path, f.Machine, arch)
	}
	syms, err := f.ImportedSymbols()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return "", nil, fmt.Errorf("mkdeb: %s: %w", path, err)
	}
	for _, sym := range syms {
		if v, ok := strings.CutPrefix(sym.Version, "GLIBC_"); ok && versionLess(glibc, v) {
			glibc = v
		}
	}
	libs, err = f.ImportedLibraries()
	if err != nil {
		return "", nil, fmt.Errorf("mkdeb: %s: %w", path, err)
	}
	return glibc, libs, nil
}

// versionLess compares dotted numeric versions ("2.17" < "2.34"); "" is the
// least. Non-numeric parts (GLIBC_PRIVATE) never win.
func versionLess(a, b string) bool {
	nums := func(s string) []int {
		var out []int
		for p := range strings.SplitSeq(s, ".") {
			n, err := strconv.Atoi(p)
			if err != nil {
				return nil
			}
			out = append(out, n)
		}
		return out
	}
	nb := nums(b)
	if nb == nil {
		return false
	}
	return slices.Compare(nums(a), nb) < 0
}
