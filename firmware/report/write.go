package report

import (
	"fmt"
	"os"
	"path/filepath"
)

// Files are the paths Write produced, by kind.
type Files struct {
	SEG string   // "" for a negative study (no segments, no SEG)
	SR  string   // always written
	SC  []string // summary first, then one per lesion slice
}

// All lists every file, SEG first.
func (f Files) All() []string {
	var out []string
	if f.SEG != "" {
		out = append(out, f.SEG)
	}
	out = append(out, f.SR)
	return append(out, f.SC...)
}

// Write builds the SEG (when there are lesions), the SR and the SC series
// for in and writes them into dir (created if needed), each file atomically.
func Write(dir string, in *Input, ids IDs) (Files, error) {
	var f Files
	if err := in.check(ids); err != nil {
		return f, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return f, fmt.Errorf("report: %w", err)
	}
	if len(in.Lesions) > 0 {
		data, err := SEG(in, ids)
		if err != nil {
			return f, err
		}
		f.SEG = filepath.Join(dir, "seg.dcm")
		if err := writeFileAtomic(f.SEG, data); err != nil {
			return Files{}, err
		}
	}
	data, err := SR(in, ids)
	if err != nil {
		return Files{}, err
	}
	f.SR = filepath.Join(dir, "sr.dcm")
	if err := writeFileAtomic(f.SR, data); err != nil {
		return Files{}, err
	}
	scs, err := SC(in, ids)
	if err != nil {
		return Files{}, err
	}
	for i, data := range scs {
		p := filepath.Join(dir, fmt.Sprintf("sc-%03d.dcm", i+1))
		if err := writeFileAtomic(p, data); err != nil {
			return Files{}, err
		}
		f.SC = append(f.SC, p)
	}
	return f, nil
}
