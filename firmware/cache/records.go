package cache

import (
	"encoding/json"
	"fmt"
	"time"
)

// ValueVersion is the first byte of every value this firmware writes; the rest
// is JSON. decodeValue accepts every version listed in valueUpgrades.
const ValueVersion byte = 1

// Header holds the attributes of one instance that grouping, completeness,
// series selection and later stages need. It never holds patient name, ID or
// birth date.
type Header struct {
	SOPClassUID          string
	SOPInstanceUID       string
	TransferSyntaxUID    string
	StudyInstanceUID     string
	SeriesInstanceUID    string
	Modality             string
	SeriesNumber         int
	InstanceNumber       int
	AcquisitionNumber    int
	SeriesDescription    string
	ProtocolName         string
	SequenceName         string
	ImageType            []string
	MRAcquisitionType    string
	ContrastBolusAgent   string
	SliceThickness       float64
	SpacingBetweenSlices float64
	FrameOfReferenceUID  string
	ImageOrientation     []float64 // 6 direction cosines, or nil
	ImagePosition        []float64 // 3 coordinates in mm, or nil
	PixelSpacing         []float64 // row, column spacing in mm, or nil
	Rows, Columns        int
	NumberOfFrames       int
	EchoNumbers          int
	// Expected-count attributes (0 when absent).
	ImagesInAcquisition       int
	NumberOfSlices            int
	NumberOfTemporalPositions int
}

// Instance is the record of one stored instance file.
type Instance struct {
	Header
	Path   string // relative to the store folder
	Size   int64
	SHA256 [32]byte // of the whole file
	// DataSetSHA256 is of the data set after the file meta group: a copy
	// sent again from another AE (a different meta header) is the same
	// instance, not a changed one.
	DataSetSHA256 [32]byte
	ReceivedAt    time.Time
	CallingAE     string
	CalledAE      string
	Remote        string
}

// Received is what the SCP knows of an instance besides the file itself.
type Received struct {
	SOPClassUID, SOPInstanceUID, TransferSyntaxUID string
	CallingAE, CalledAE                            string
	Remote                                         string
	Size                                           int64    // bytes written to the file; 0 = not checked
	SHA256                                         [32]byte // of the whole file; zero = not known (PutInstance hashes it)
	DataSetSHA256                                  [32]byte // of the data set after the meta group; zero = not known
}

// Series is the state of one series: its attributes (from its first
// instance), how many instances arrived and when, and whether it is complete.
type Series struct {
	StudyInstanceUID  string
	SeriesInstanceUID string
	Attrs             Header // attributes of the first instance received
	Count             int    // distinct instances stored
	Expected          int    // expected count from tags; 0 = unknown
	ExpectedFrom      string // the tags Expected came from
	MultiFrame        bool   // an Enhanced MR multi-frame series, complete on receipt
	FirstAt, LastAt   time.Time
	// LastRemote is the association (peer address and port) that last
	// sent an instance of the series, new or a duplicate resent: whether it
	// ended in a clean release (Release) tells a whole series from one cut
	// off.
	LastRemote     string
	Complete       bool
	CompleteReason string
	CompleteAt     time.Time
}

// Study states.
const (
	StudyReceiving = "receiving" // instances arriving; a waiting job exists
	StudyReady     = "ready"     // a job was made ready with the selected series
	StudySkipped   = "skipped"   // no matching series, or discarded after max wait
)

// Study is the state of one study.
type Study struct {
	StudyInstanceUID string
	State            string
	FirstAt, LastAt  time.Time // first and last arrival of the current generation
	Generation       int       // 1 for the first job; +1 for each reopening by late instances
	JobID            uint64    // the job of the current generation
	Reason           string    // why the study reached its state
}

// Job states. A job is created waiting when a study (or a reopening of it)
// starts; intake makes it ready (or skipped); the runner moves it on.
const (
	JobWaiting   = "waiting"
	JobReady     = "ready"
	JobRunning   = "running"
	JobReported  = "reported"
	JobDelivered = "delivered"
	JobFailed    = "failed"  // processing failed; no result
	JobDead      = "dead"    // results exist but could not be delivered
	JobSkipped   = "skipped" // nothing to do: no matching series, or discarded
	// JobSuperseded: results were made but newer results for the same study
	// (a later generation) replaced them before they were delivered.
	JobSuperseded = "superseded"
)

var jobTransitions = map[string][]string{
	JobWaiting:  {JobReady, JobSkipped, JobFailed},
	JobReady:    {JobRunning, JobFailed},
	JobRunning:  {JobReported, JobFailed, JobReady}, // ready again: resumed after a restart
	JobReported: {JobDelivered, JobDead, JobSuperseded},
	JobFailed:   {JobReady}, // a retry by hand
	JobDead:     {JobReported},
}

// Terminal reports whether a job state is final for retention purposes.
func Terminal(state string) bool {
	return state == JobDelivered || state == JobFailed || state == JobDead || state == JobSkipped || state == JobSuperseded
}

// Selected is one series a job works on, with its role (black, bright, t1).
type Selected struct {
	Role              string
	SeriesInstanceUID string
	SeriesNumber      int
	Count             int
	// Instances, when not empty, are the SOP Instance UIDs that make up this
	// role: a VISIBLE series holding both image sets is selected twice, each
	// role with its own instances. Empty means every instance of the series.
	Instances []string `json:",omitempty"`
}

// Job carries one generation of a study through processing.
type Job struct {
	ID               uint64
	StudyInstanceUID string
	Generation       int
	State            string
	Rule             string     // the rule that selected the series
	Series           []Selected // the selected series, set when ready
	Reason           string     // why the job reached its state
	Attempts         int
	Created, Updated time.Time
}

// Outbox entry states.
const (
	OutboxPending   = "pending"
	OutboxDelivered = "delivered"
	OutboxDead      = "dead"
)

// OutboxEntry is one result file to send to one destination.
type OutboxEntry struct {
	ID          uint64
	JobID       uint64
	Destination string
	Path        string // relative to the store folder
	State       string
	Attempts    int
	NextAt      time.Time
	LastError   string
	Created     time.Time
	Updated     time.Time
}

// AuditEvent is one decision, with its reason, in words a service engineer
// reads. It holds UIDs and series numbers, never patient identity.
type AuditEvent struct {
	Seq    uint64
	At     time.Time
	Kind   string
	Study  string
	Series string
	JobID  uint64
	Msg    string
}

// valueUpgrades turns an older value version into the current one. Version 1
// is the first; none is older yet.
var valueUpgrades = map[byte]func([]byte) ([]byte, error){}

func encodeValue(v any) ([]byte, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cache: encode %T: %w", v, err)
	}
	return append([]byte{ValueVersion}, j...), nil
}

func decodeValue(b []byte, v any) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: empty value (expected version byte %d)", ErrCorrupt, ValueVersion)
	}
	ver, body := b[0], b[1:]
	if ver > ValueVersion {
		return fmt.Errorf("%w: value version %d (this firmware reads up to %d)", ErrSchemaTooNew, ver, ValueVersion)
	}
	for ver < ValueVersion {
		up, ok := valueUpgrades[ver]
		if !ok {
			return fmt.Errorf("%w: value version %d has no upgrade", ErrCorrupt, ver)
		}
		var err error
		if body, err = up(body); err != nil {
			return fmt.Errorf("%w: upgrade value version %d: %v", ErrCorrupt, ver, err)
		}
		ver++
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: decode %T: %v", ErrCorrupt, v, err)
	}
	return nil
}
