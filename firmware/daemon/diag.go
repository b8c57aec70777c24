package daemon

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"

	"metsentry/firmware/cache"
	"metsentry/firmware/control"
)

// diag builds the diagnostics bundle: a tar.gz of the board and site files,
// versions, status, recent jobs (study UIDs hashed), recent log lines and
// the metrics. It holds no patient data: no DICOM file, header or audit
// message goes in, and log lines never carry patient identity.
func (c *Control) diag(w *control.Writer) (control.Diag, error) {
	now := c.now().UTC()
	name := "metsentry-diag-" + now.Format("20060102T150405Z") + ".tar.gz"
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	root := strings.TrimSuffix(name, ".tar.gz") + "/"
	add := func(file string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: root + file, Mode: 0o644, Size: int64(len(data)), ModTime: now}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	var files []string
	for f := range c.ConfigFiles {
		files = append(files, f)
	}
	sort.Strings(files)
	steps := int64(len(files) + 5)
	step := int64(0)
	progress := func(what string) {
		step++
		w.Progress(step, steps, what)
	}
	for _, f := range files {
		data, err := os.ReadFile(c.ConfigFiles[f])
		if err != nil {
			data = []byte(fmt.Sprintf("cannot read %s: %v\n", c.ConfigFiles[f], err))
		}
		if err := add("config/"+f, data); err != nil {
			return control.Diag{}, fmt.Errorf("daemon: diag: %w", err)
		}
		progress(f)
	}
	if err := add("versions.txt", []byte(c.versions())); err != nil {
		return control.Diag{}, fmt.Errorf("daemon: diag: %w", err)
	}
	progress("versions")
	st, err := c.status()
	stj, _ := json.MarshalIndent(st, "", "  ")
	if err != nil {
		stj = append(stj, []byte("\nstatus error: "+err.Error()+"\n")...)
	}
	if err := add("status.json", stj); err != nil {
		return control.Diag{}, fmt.Errorf("daemon: diag: %w", err)
	}
	progress("status")
	if err := add("jobs.txt", c.jobsText()); err != nil {
		return control.Diag{}, fmt.Errorf("daemon: diag: %w", err)
	}
	progress("jobs")
	var logs []byte
	if c.Logs != nil {
		logs = c.Logs.Bytes()
	}
	if err := add("logs.txt", logs); err != nil {
		return control.Diag{}, fmt.Errorf("daemon: diag: %w", err)
	}
	progress("logs")
	var mb bytes.Buffer
	if c.Metrics != nil {
		if err := c.Metrics.WriteText(&mb); err != nil {
			fmt.Fprintf(&mb, "# %v\n", err)
		}
	}
	if err := add("metrics.txt", mb.Bytes()); err != nil {
		return control.Diag{}, fmt.Errorf("daemon: diag: %w", err)
	}
	progress("metrics")
	if err := tw.Close(); err != nil {
		return control.Diag{}, fmt.Errorf("daemon: diag: %w", err)
	}
	if err := gz.Close(); err != nil {
		return control.Diag{}, fmt.Errorf("daemon: diag: %w", err)
	}
	return control.Diag{Name: name, Data: buf.Bytes()}, nil
}

// versions names the firmware, Go, the platform, the board and the model.
func (c *Control) versions() string {
	var b strings.Builder
	fmt.Fprintf(&b, "metsentry %s\n%s %s/%s\n", c.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&b, "board %s\n", c.Intake.Board.Name)
	if a := c.Intake.Analyzer; a != nil && a.Model != nil && a.Model.Manifest != nil {
		m := a.Model.Manifest
		fmt.Fprintf(&b, "model %s %s %s sha256 %s\n", m.Name, m.Version, m.Precision, m.SHA256)
		if a.Model.Engine != nil {
			fmt.Fprintf(&b, "provider %s\n", a.Model.Engine.Provider())
		}
	} else {
		b.WriteString("model none\n")
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			fmt.Fprintf(&b, "module %s %s\n", d.Path, d.Version)
		}
	}
	return b.String()
}

// jobsText lists the last 200 jobs, their study as a hash.
func (c *Control) jobsText() []byte {
	store, _ := c.Intake.live.get()
	if store == nil {
		return []byte(ErrNotStarted.Error() + "\n")
	}
	var lines []string
	err := store.View(func(tx *cache.Tx) error {
		return tx.Jobs(func(j cache.Job) error {
			lines = append(lines, fmt.Sprintf("job %d study %s gen %d %s rule %q attempts %d created %s updated %s: %s",
				j.ID, studyHash(j.StudyInstanceUID), j.Generation, j.State, j.Rule, j.Attempts,
				j.Created.UTC().Format("2006-01-02T15:04:05Z"), j.Updated.UTC().Format("2006-01-02T15:04:05Z"), j.Reason))
			return nil
		})
	})
	if err != nil {
		lines = append(lines, "error: "+err.Error())
	}
	if len(lines) > 200 {
		lines = lines[len(lines)-200:]
	}
	return []byte(strings.Join(lines, "\n") + "\n")
}
