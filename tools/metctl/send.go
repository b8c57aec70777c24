package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"metsentry/firmware/control"
	"metsentry/firmware/dimse"
)

// dicomFile is a Part 10 file found under a folder.
type dicomFile struct {
	path, sopClass string
}

// findDICOM lists the Part 10 files under dir (by their file meta group)
// and counts the other files, which are left out.
func findDICOM(dir string) ([]dicomFile, int, error) {
	var files []dicomFile
	other := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		m, merr := dimse.ReadFileMeta(bufio.NewReader(f))
		f.Close()
		if merr != nil || m.SOPClassUID == "" {
			other++
			return nil
		}
		files = append(files, dicomFile{path: p, sopClass: m.SOPClassUID})
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("metctl: %w", err)
	}
	slices.SortFunc(files, func(a, b dicomFile) int {
		if a.path < b.path {
			return -1
		}
		if a.path > b.path {
			return 1
		}
		return 0
	})
	return files, other, nil
}

// send C-STOREs the DICOM files under dir to a destination of the site
// file, from this box with the box's AE title, on one association.
func (a *app) send(ctx context.Context, dir, dest string) error {
	files, other, err := findDICOM(dir)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("metctl: no DICOM Part 10 file under %s (%d other files)", dir, other)
	}
	var d control.Destination
	if err := a.call(ctx, control.Request{Cmd: control.CmdDestination, Args: []string{dest}}, &d); err != nil {
		return err
	}
	var classes []string
	for _, f := range files {
		if !slices.Contains(classes, f.sopClass) {
			classes = append(classes, f.sopClass)
		}
	}
	addr := net.JoinHostPort(d.Host, strconv.Itoa(d.Port))
	as, err := dimse.Dial(ctx, addr, d.CallingAE, d.AETitle, dimse.StorageContexts(classes...)...)
	if err != nil {
		return fmt.Errorf("metctl: association with %s (%s at %s) as %s: %w", d.Name, d.AETitle, addr, d.CallingAE, err)
	}
	if other > 0 {
		fmt.Fprintf(a.stderr, "%d files under %s are not DICOM Part 10 files: left out\n", other, dir)
	}
	var bar interface{ Add(int) error }
	if a.progress {
		bar = a.bar(int64(len(files)), "send "+d.Name)
	}
	sent, failed := 0, 0
	var firstErr error
	for _, f := range files {
		err := as.StoreFile(ctx, f.path)
		var se *dimse.StatusError
		switch {
		case err == nil:
			sent++
		case errors.As(err, &se), errors.Is(err, dimse.ErrNoContext):
			failed++ // the destination answered: the association stands
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: %w", f.path, err)
			}
		default:
			as.Abort()
			return fmt.Errorf("metctl: send to %s stopped after %d of %d files: %w", d.Name, sent, len(files), err)
		}
		if bar != nil {
			_ = bar.Add(1)
		}
	}
	_ = as.Release(ctx)
	if bar != nil {
		fmt.Fprintln(a.stderr)
	}
	if failed > 0 {
		return fmt.Errorf("metctl: %d of %d files refused by %s; the first: %w", failed, len(files), d.Name, firstErr)
	}
	fmt.Fprintf(a.stdout, "sent %d files to %s (%s at %s)\n", sent, d.Name, d.AETitle, addr)
	return nil
}
