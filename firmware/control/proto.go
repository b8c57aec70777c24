package control

import (
	"encoding/json"
	"path/filepath"
	"time"
)

// Socket file placement: SocketPath(dataDir) is dataDir/run/control.sock.
const (
	RunDir     = "run"
	SocketName = "control.sock"
	// DefaultDataDir is the daemon's data folder as the .deb installs it.
	DefaultDataDir = "/var/lib/metsentry"
)

// SocketPath is where the daemon whose data folder is dataDir listens.
func SocketPath(dataDir string) string { return filepath.Join(dataDir, RunDir, SocketName) }

// MaxRequestBytes bounds one request line; a longer one is refused.
const MaxRequestBytes = 64 << 10

// Commands a Request may name.
const (
	CmdStatus      = "status"      // no args; result Status
	CmdEcho        = "echo"        // args: destination name; result Echo
	CmdDestination = "destination" // args: destination name; result Destination
	CmdReplay      = "replay"      // args: study instance UID or job id; result Replay
	CmdDiag        = "diag"        // no args; result Diag
	CmdSelftest    = "selftest"    // no args; result Selftest
	// CmdModelInstall installs a signed update bundle into the slot not in
	// use and self-tests it; args: the bundle's path on the box; result
	// Install.
	CmdModelInstall = "model-install"
)

// Request is one command to the daemon.
type Request struct {
	Cmd  string   `json:"cmd"`
	Args []string `json:"args,omitempty"`
}

// Message is one line the daemon answers with. Final is set on the last
// one, which holds Result (JSON of the command's result type) or Error.
type Message struct {
	Progress *Progress       `json:"progress,omitempty"`
	Text     string          `json:"text,omitempty"`
	Final    bool            `json:"final,omitempty"`
	Result   json.RawMessage `json:"result,omitempty"`
	Error    string          `json:"error,omitempty"`
}

// Progress is how far a long command has come.
type Progress struct {
	Done  int64  `json:"done"`
	Total int64  `json:"total"` // -1 when unknown
	What  string `json:"what,omitempty"`
}

// Status is the daemon's state for `metctl status`.
type Status struct {
	Version   string         `json:"version"`
	Board     string         `json:"board"`
	AETitle   string         `json:"ae_title"`
	Started   time.Time      `json:"started"`
	Jobs      map[string]int `json:"jobs"`   // job count by cache job state
	Outbox    map[string]int `json:"outbox"` // delivery count by outbox state
	DiskFree  uint64         `json:"disk_free_bytes"`
	DiskTotal uint64         `json:"disk_total_bytes"`
	// TemperatureC is the hottest thermal zone; nil when the board has none
	// or none could be read (TemperatureErr says why).
	TemperatureC   *float64 `json:"temperature_c,omitempty"`
	TemperatureErr string   `json:"temperature_error,omitempty"`
	Provider       string   `json:"provider"` // inference provider in use, "" without a model
	Model          string   `json:"model"`    // model name and version, "" without a model
	Faults         []string `json:"faults,omitempty"`
	Destinations   []string `json:"destinations"`
	// StatusAddr is where the Prometheus endpoint listens, "" when off.
	StatusAddr string `json:"status_addr,omitempty"`
}

// Echo is the answer to a C-ECHO made from the box.
type Echo struct {
	Destination string        `json:"destination"`
	Address     string        `json:"address"`
	AETitle     string        `json:"ae_title"`
	Elapsed     time.Duration `json:"elapsed"`
}

// Destination is a configured destination and the calling AE title the box
// uses towards it, for `metctl send`.
type Destination struct {
	Name      string `json:"name"`
	AETitle   string `json:"ae_title"`
	Host      string `json:"host"`
	Port      int    `json:"port"`
	CallingAE string `json:"calling_ae"`
}

// Replay is the job a replay queued.
type Replay struct {
	Job       uint64 `json:"job"`
	FromJob   uint64 `json:"from_job"`
	StudyHash string `json:"study"` // a truncated hash of the study UID, as logs show it
}

// Diag is a diagnostics bundle: a tar.gz with no patient data.
type Diag struct {
	Name string `json:"name"`
	Data []byte `json:"data"`
}

// Selftest is the outcome of the built-in phantom study through the model
// (firmware/selftest), opened again from its files.
type Selftest struct {
	Passed bool   `json:"passed"`
	Report string `json:"report"` // one line per lesion, then PASS or FAIL with every reason
}

// Install is what a passed install did (firmware/update.Result).
type Install struct {
	Version         string `json:"version"`
	Slot            string `json:"slot"`
	KeyID           string `json:"key_id"`
	Previous        string `json:"previous,omitempty"`
	PreviousVersion string `json:"previous_version,omitempty"`
	// Restart says the daemon stops once this reply is sent, so that
	// systemd starts it again from the new slot; false leaves the restart
	// to the field engineer (a daemon not run by systemd).
	Restart bool `json:"restart,omitempty"`
}
