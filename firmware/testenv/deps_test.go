package testenv

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// These tests are the check that a fresh machine gets everything: they read
// build.sh, every Go file and every Python script of the repository, so a
// package left out of APT_PACKAGES fails here even on a machine that has it
// installed by hand. build.sh test runs them right after installing deps.

// aptPackages returns the packages in build.sh's APT_PACKAGES=( ... ) list.
func aptPackages(buildSh string) (map[string]bool, error) {
	f, err := os.Open(buildSh)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pkgs := map[string]bool{}
	in, seen := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		switch {
		case !in && strings.HasPrefix(line, "APT_PACKAGES=("):
			in, seen = true, true
			line = strings.TrimPrefix(line, "APT_PACKAGES=(")
		case !in:
			continue
		}
		end := strings.HasSuffix(line, ")")
		for _, p := range strings.Fields(strings.TrimSuffix(line, ")")) {
			pkgs[p] = true
		}
		if end {
			in = false
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !seen || in {
		return nil, fmt.Errorf("%s: no complete APT_PACKAGES=( ... ) list", buildSh)
	}
	return pkgs, nil
}

// missingPackages returns one line per table entry whose package is not in
// pkgs, naming what needs it.
func missingPackages(pkgs map[string]bool) []string {
	var out []string
	check := func(kind string, table map[string]string) {
		for name, pkg := range table {
			if pkg != "" && !pkgs[pkg] {
				out = append(out, fmt.Sprintf("%s %s needs Debian package %s, which build.sh's APT_PACKAGES does not list: add it there", kind, name, pkg))
			}
		}
	}
	check("program", Programs)
	check("file", Files)
	check("Python module", PythonModules)
	sort.Strings(out)
	return out
}

func TestDepsTablesInAptList(t *testing.T) {
	pkgs, err := aptPackages(filepath.Join(RepoRoot(t), "build.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range missingPackages(pkgs) {
		t.Error(m)
	}
}

// The check must fail when a package is taken out of the list: take each
// package the tables name out in turn and see it reported.
func TestDepsCheckCatchesRemovedPackage(t *testing.T) {
	full, err := aptPackages(filepath.Join(RepoRoot(t), "build.sh"))
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	for _, table := range []map[string]string{Programs, Files, PythonModules} {
		for _, p := range table {
			if p != "" {
				named[p] = true
			}
		}
	}
	for p := range named {
		less := map[string]bool{}
		for q := range full {
			less[q] = q != p
		}
		got := missingPackages(less)
		if len(got) == 0 || !strings.Contains(strings.Join(got, "\n"), "package "+p+",") {
			t.Errorf("without %s in APT_PACKAGES the check reports %q", p, got)
		}
	}
}

func TestAptPackagesParse(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string
		err        bool
	}{
		{"multi-line with comments", "X=1\nAPT_PACKAGES=(\n  a b # c d\n  e\n)\nY=(z)\n", []string{"a", "b", "e"}, false},
		{"one line", "APT_PACKAGES=(a b)\n", []string{"a", "b"}, false},
		{"closing on a package line", "APT_PACKAGES=(\n a\n b)\n", []string{"a", "b"}, false},
		{"missing", "PACKAGES=(a)\n", nil, true},
		{"unclosed", "APT_PACKAGES=(\n a\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "build.sh")
			if err := os.WriteFile(p, []byte(tt.text), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := aptPackages(p)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			var names []string
			for k := range got {
				names = append(names, k)
			}
			sort.Strings(names)
			if !slices.Equal(names, tt.want) {
				t.Errorf("got %v, want %v", names, tt.want)
			}
		})
	}
}

// repoFiles walks the repository (not .git, .cache, bin, out) and returns the
// files ending in ext.
func repoFiles(t *testing.T, ext string) []string {
	t.Helper()
	root := RepoRoot(t)
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", ".cache", "bin", "out", "node_modules", "__pycache__":
				if p != root {
					return filepath.SkipDir
				}
			}
			return nil
		}
		if strings.HasSuffix(p, ext) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// programCalls returns the literal program names a Go file runs through
// exec.Command, exec.CommandContext, exec.LookPath or testenv.Program.
func programCalls(path string, src any) (map[string]token.Position, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	out := map[string]token.Position{}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		var x string
		switch id := sel.X.(type) {
		case *ast.Ident:
			x = id.Name
		default:
			return true
		}
		arg := -1
		switch x + "." + sel.Sel.Name {
		case "exec.Command", "exec.LookPath":
			arg = 0
		case "exec.CommandContext", "testenv.Program":
			arg = 1
		}
		if arg < 0 || len(call.Args) <= arg {
			return true
		}
		if lit, ok := call.Args[arg].(*ast.BasicLit); ok && lit.Kind == token.STRING {
			if s, err := strconv.Unquote(lit.Value); err == nil {
				out[filepath.Base(s)] = fset.Position(lit.Pos())
			}
		}
		return true
	})
	return out, nil
}

func TestProgramCallsParse(t *testing.T) {
	src := `package p
func f() {
	exec.Command("storescu", "-v")
	exec.CommandContext(ctx, "echoscu")
	exec.LookPath("/usr/bin/dcmdump")
	testenv.Program(t, "Orthanc")
	exec.Command(name)
	other.Command("nope")
}`
	got, err := programCalls("p.go", src)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for k := range got {
		names = append(names, k)
	}
	sort.Strings(names)
	if want := []string{"Orthanc", "dcmdump", "echoscu", "storescu"}; !slices.Equal(names, want) {
		t.Errorf("got %v, want %v", names, want)
	}
}

func TestDepsEveryProgramNamed(t *testing.T) {
	for _, p := range repoFiles(t, ".go") {
		calls, err := programCalls(p, nil)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		for name, pos := range calls {
			if _, ok := Programs[name]; !ok {
				t.Errorf("%s: runs program %s, which is not in testenv.Programs: add it there with the Debian package that provides it, and that package to build.sh's APT_PACKAGES", pos, name)
			}
		}
	}
}

var importRE = regexp.MustCompile(`^(?:from\s+([A-Za-z_][\w.]*)\s+import\b|import\s+([A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*))`)

// pythonImports returns the top-level modules a Python script imports at the
// start of a line (indented imports included).
func pythonImports(text string) []string {
	seen := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		m := importRE.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		list := m[1]
		if list == "" {
			list = m[2]
		}
		for _, mod := range strings.Split(list, ",") {
			mod = strings.TrimSpace(mod)
			if mod == "" || strings.HasPrefix(mod, ".") {
				continue
			}
			seen[strings.SplitN(mod, ".", 2)[0]] = true
		}
	}
	var out []string
	for m := range seen {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

func TestPythonImportsParse(t *testing.T) {
	src := "import os, sys\nimport torch.nn.functional as F\nfrom onnx import helper\n  import numpy as np\n# import scipy\nx = 'import pandas'\nfrom . import sibling\n"
	if got, want := pythonImports(src), []string{"numpy", "onnx", "os", "sys", "torch"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// stdlibModules asks Debian's python3 for its standard-library module names.
func stdlibModules(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command(Python, "-c", "import sys; print('\\n'.join(sorted(sys.stdlib_module_names)))").Output()
	if err != nil {
		t.Fatalf("testenv: %s (Debian package %s) cannot list its standard library (run ./build.sh deps): %v", Python, Programs["python3"], err)
	}
	mods := map[string]bool{"__future__": true}
	for _, m := range strings.Fields(string(out)) {
		mods[m] = true
	}
	return mods
}

func TestDepsEveryPythonModuleNamed(t *testing.T) {
	std := stdlibModules(t)
	scripts := repoFiles(t, ".py")
	own := map[string]bool{} // the repository's own modules, imported through sys.path
	for _, p := range scripts {
		own[strings.TrimSuffix(filepath.Base(p), ".py")] = true
	}
	for _, p := range scripts {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, mod := range pythonImports(string(b)) {
			if std[mod] {
				continue
			}
			if own[mod] {
				continue
			}
			if _, ok := PythonModules[mod]; !ok {
				t.Errorf("%s imports %s, which is not in testenv.PythonModules: add it there with the Debian package that provides it (python3-%s, most likely), and that package to build.sh's APT_PACKAGES", p, mod, strings.ToLower(mod))
			}
		}
	}
}

// dpkgOwner returns the packages dpkg says own path (without :arch).
func dpkgOwner(path string) ([]string, error) {
	out, err := exec.Command("dpkg-query", "-S", path).Output()
	if err != nil {
		return nil, err
	}
	var pkgs []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		owners, _, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		for _, o := range strings.Split(owners, ", ") {
			pkgs = append(pkgs, strings.SplitN(o, ":", 2)[0])
		}
	}
	return pkgs, nil
}

// ownedBy reports whether dpkg says pkg provides path or the file it links to.
func ownedBy(path, pkg string) (bool, []string) {
	var all []string
	for _, p := range []string{path, resolved(path)} {
		owners, _ := dpkgOwner(p)
		all = append(all, owners...)
		if slices.Contains(owners, pkg) {
			return true, nil
		}
	}
	return false, all
}

func resolved(path string) string {
	r, err := filepath.EvalSymlinks(path)
	if err != nil {
		return path
	}
	return r
}

// On a machine where deps has run, the tables must be true: each program and
// file is installed and dpkg says the named package provides it.
func TestDepsTablesMatchDpkg(t *testing.T) {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Fatalf("testenv: dpkg-query not found: the project's machines run Debian 12 (README)")
	}
	for name, pkg := range Programs {
		if pkg == "" {
			continue
		}
		p, err := exec.LookPath(name)
		if name == "python3" {
			p, err = Python, nil
		}
		if err != nil {
			t.Errorf("program %s (Debian package %s) is not installed: run ./build.sh deps", name, pkg)
			continue
		}
		if ok, owners := ownedBy(p, pkg); !ok {
			t.Errorf("testenv.Programs says %s provides %s, dpkg says %v", pkg, p, owners)
		}
	}
	for path, pkg := range Files {
		if ok, owners := ownedBy(path, pkg); !ok {
			t.Errorf("testenv.Files says %s provides %s, dpkg says %v", pkg, path, owners)
		}
	}
	var mods []string
	for m := range PythonModules {
		mods = append(mods, m)
	}
	sort.Strings(mods)
	script := "import importlib, sys\nfor m in sys.argv[1:]:\n    print(importlib.import_module(m).__file__)\n"
	out, err := exec.Command(Python, append([]string{"-c", script}, mods...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s cannot import %v (packages %v; run ./build.sh deps): %v\n%s", Python, mods, PythonModules, err, out)
	}
	files := strings.Fields(string(out))
	if len(files) != len(mods) {
		t.Fatalf("%s printed %d module files for %d modules:\n%s", Python, len(files), len(mods), out)
	}
	for i, m := range mods {
		if ok, owners := ownedBy(files[i], PythonModules[m]); !ok {
			t.Errorf("testenv.PythonModules says %s provides %s (%s), dpkg says %v", PythonModules[m], m, files[i], owners)
		}
	}
}
