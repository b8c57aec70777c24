package main

import (
	"fmt"
	"os"
	"strings"

	"metsentry/firmware/cache"
	"metsentry/firmware/config"
	"metsentry/firmware/intake"
)

// rulesTest reads the DICOM files under dir and prints, per study, which
// series the site's rules would pick and why each other series was passed
// over: the selection code of firmware/intake, on files instead of the
// cache, with every series taken as complete.
func (a *app) rulesTest(dir, sitePath string) error {
	site, err := config.LoadSite(sitePath)
	if err != nil {
		return fmt.Errorf("metctl: %w", err)
	}
	rules, err := intake.CompileRules(site.Rules)
	if err != nil {
		return fmt.Errorf("metctl: %s: %w", sitePath, err)
	}
	files, other, err := findDICOM(dir)
	if err != nil {
		return err
	}
	var insts []cache.Instance
	bad := 0
	for _, f := range files {
		h, err := readHeader(f.path)
		if err != nil {
			bad++
			fmt.Fprintf(a.stderr, "%s: left out: %v\n", f.path, err)
			continue
		}
		insts = append(insts, cache.Instance{Header: h, Path: f.path})
	}
	if len(insts) == 0 {
		return fmt.Errorf("metctl: no usable DICOM image under %s (%d refused, %d not DICOM)", dir, bad, other)
	}
	w := a.stdout
	fmt.Fprintf(w, "rules of %s on %d images under %s (every series taken as complete)\n", sitePath, len(insts), dir)
	for _, st := range rules.DryRun(insts) {
		fmt.Fprintf(w, "\nstudy %s: %d series\n", st.StudyInstanceUID, len(st.Series))
		for _, s := range st.Series {
			fmt.Fprintf(w, "  series %d %q: %d images\n", s.Attrs.SeriesNumber, s.Attrs.SeriesDescription, s.Count)
		}
		if st.Rule == "" {
			fmt.Fprintln(w, "picked: nothing (the study would be skipped)")
		} else {
			var picked []string
			for _, s := range st.Selection.Series {
				picked = append(picked, fmt.Sprintf("series %d as %s", s.SeriesNumber, s.Role))
			}
			fmt.Fprintf(w, "picked: rule %s: %s\n", st.Rule, strings.Join(picked, ", "))
		}
		for _, d := range st.Decisions {
			fmt.Fprintf(w, "  - %s\n", d.Msg)
		}
	}
	return nil
}

// readHeader parses one file's header as the cache does on receipt.
func readHeader(path string) (cache.Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return cache.Header{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return cache.Header{}, err
	}
	return cache.ParseHeader(f, fi.Size())
}
