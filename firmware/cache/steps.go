package cache

import (
	"encoding/json"
	"fmt"
	"time"
)

// Step is a Modality Performed Procedure Step a console created: the MPPS
// SCP's state (firmware/daemon), kept here so that an N-SET after a restart
// finds its N-CREATE, and a COMPLETED step's listing of the instances it
// made still completes its series. The cache does not interpret Body.
type Step struct {
	UID  string    // the step's SOP Instance UID
	At   time.Time // its last change
	Body json.RawMessage
}

// PutStep writes a step, replacing one with the same UID.
func (t *Tx) PutStep(s Step) error {
	if s.UID == "" {
		return fmt.Errorf("cache: step without a UID")
	}
	return t.put(bucketSteps, EncodeKey(s.UID), s)
}

// DeleteStep removes a step; removing one that is not there is no error.
func (t *Tx) DeleteStep(uid string) error {
	if err := t.tx.Bucket(bucketSteps).Delete(EncodeKey(uid)); err != nil {
		return fmt.Errorf("cache: delete step: %w", err)
	}
	return nil
}

// Steps calls fn for every step, in UID order.
func (t *Tx) Steps(fn func(Step) error) error { return scan(t, bucketSteps, nil, fn) }
