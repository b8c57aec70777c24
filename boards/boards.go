// Package boards holds one board file per supported board and makes them
// available by name, so `metsentryd --board jetson-orin-nano` works without a
// path. A board file is read by firmware/config.
//
// To add a board: copy the closest file, change what differs, run
// `go run ./firmware/cmd/metsentryd --check --board <file>`, and add the name to
// the test table in boards_test.go.
package boards

import (
	"embed"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.yaml
var files embed.FS

// Names lists the built-in boards, sorted.
func Names() []string {
	ents, _ := fs.ReadDir(files, ".")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(out)
	return out
}

// File returns the contents of a built-in board file and its file name, or
// ok=false when name is not a built-in board.
func File(name string) (data []byte, file string, ok bool) {
	file = name + ".yaml"
	data, err := files.ReadFile(file)
	if err != nil {
		return nil, "", false
	}
	return data, "boards/" + file, true
}
