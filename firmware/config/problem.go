package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Problem is one thing wrong in a configuration file.
type Problem struct {
	File string // path as given by the caller
	Line int    // 1-based; 0 when the problem is not tied to a line
	Msg  string // what is wrong and what is expected
}

// String formats the problem as `file:line: message`.
func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
	}
	return fmt.Sprintf("%s: %s", p.File, p.Msg)
}

// Problems is every problem found in one or more files. It is returned as an
// error by Load functions when the list is not empty.
type Problems []Problem

// Error joins the problems, one per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// AsProblems returns the problem list inside err, or nil when err carries none.
func AsProblems(err error) Problems {
	var ps Problems
	if errors.As(err, &ps) {
		return ps
	}
	return nil
}

// checker collects problems while walking a decoded document.
type checker struct {
	file string
	root *yaml.Node
	ps   Problems
}

// addf records a problem at the line of the node found at path (dotted keys,
// numeric indexes for sequences). When the exact key is absent the line of the
// closest existing parent is used, so a missing key points at its section.
func (c *checker) addf(path string, format string, args ...any) {
	line := c.line(path)
	for _, p := range c.ps {
		if p.Line == line && line > 0 && strings.HasPrefix(p.Msg, "cannot read ") {
			// The value on this line could not be decoded; the zero value
			// left behind would only repeat the same mistake in other words.
			return
		}
	}
	c.ps = append(c.ps, Problem{File: c.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) line(path string) int {
	n := c.root
	if n == nil {
		return 0
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	best := n.Line
	if path == "" {
		return best
	}
	for _, part := range strings.Split(path, ".") {
		next := child(n, part)
		if next == nil {
			return best
		}
		n = next
		best = n.Line
	}
	return best
}

// child returns the value node of key in a mapping, or element i of a sequence.
func child(n *yaml.Node, key string) *yaml.Node {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				v := n.Content[i+1]
				if v.Kind == yaml.ScalarNode || v.Kind == yaml.AliasNode {
					// Point at the key's line: for scalars it is the same line.
					return v
				}
				// For nested sections, report the key line rather than the
				// first child's.
				cp := *v
				cp.Line = n.Content[i].Line
				return &cp
			}
		}
	case yaml.SequenceNode:
		i, err := strconv.Atoi(key)
		if err == nil && i >= 0 && i < len(n.Content) {
			return n.Content[i]
		}
	}
	return nil
}

var (
	reUnknownField = regexp.MustCompile(`^line (\d+): field (\S+) not found in type (\S+)$`)
	reYAMLLine     = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
)

// decode parses data strictly into out. Syntax errors and unknown keys become
// problems with line numbers; the returned node is nil when the syntax is bad.
func decode(file string, data []byte, out any, section func(typ string) string) (*yaml.Node, Problems) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, Problems{yamlProblem(file, err.Error())}
	}
	if root.Kind == 0 || (root.Kind == yaml.DocumentNode && len(root.Content) == 0) {
		return nil, Problems{{File: file, Msg: "file is empty (expected a YAML mapping)"}}
	}
	var ps Problems
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, e := range te.Errors {
				if m := reUnknownField.FindStringSubmatch(e); m != nil {
					line, _ := strconv.Atoi(m[1])
					where := section(m[3])
					ps = append(ps, Problem{File: file, Line: line,
						Msg: fmt.Sprintf("unknown key %q%s (check the spelling against the documented keys)", m[2], where)})
					continue
				}
				ps = append(ps, yamlProblem(file, e))
			}
		} else {
			ps = append(ps, yamlProblem(file, err.Error()))
		}
	}
	return &root, ps
}

var reUnmarshal = regexp.MustCompile("^cannot unmarshal !!(\\w+) `(.*)` into (\\S+)$")

// wantedKind says in words what a Go type expects from a YAML value.
func wantedKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case goType == "int" || goType == "int64":
		return "a whole number"
	case goType == "float64":
		return "a number"
	case goType == "bool":
		return "true or false"
	case goType == "string":
		return "text"
	case goType == "time.Duration":
		return "a duration such as 20s or 15m"
	case strings.HasPrefix(goType, "config."), strings.HasPrefix(goType, "*config."):
		return "a section of keys"
	}
	return goType
}

func yamlProblem(file, msg string) Problem {
	if m := reYAMLLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		text := strings.TrimPrefix(m[2], "yaml: ")
		if u := reUnmarshal.FindStringSubmatch(text); u != nil {
			text = fmt.Sprintf("cannot read %q here (expected %s)", u[2], wantedKind(u[3]))
		}
		return Problem{File: file, Line: line, Msg: text}
	}
	return Problem{File: file, Msg: strings.TrimPrefix(msg, "yaml: ")}
}
