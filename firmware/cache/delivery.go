package cache

import (
	"encoding/json"
	"fmt"
)

// Delivery is one result set on its way to one destination: the outbox's
// queue entry (firmware/outbox.Job), kept here so it survives a restart.
// The cache does not interpret Body; it keeps the fields the daemon and
// retention look up without decoding it.
type Delivery struct {
	ID          string // the outbox job id
	JobID       uint64 // the cache job whose results these are
	Destination string
	State       string // the outbox job state (pending, delivered, dead, superseded)
	// Files are the result files (relative to the store folder), removed
	// with the study by retention.
	Files []string
	// Body is the outbox job as JSON.
	Body json.RawMessage
}

// PutDelivery writes a delivery record, replacing one with the same ID.
func (t *Tx) PutDelivery(d Delivery) error {
	if d.ID == "" {
		return fmt.Errorf("cache: delivery without an id")
	}
	return t.put(bucketDelivery, EncodeKey(d.ID), d)
}

// Deliveries calls fn for every delivery record in id order.
func (t *Tx) Deliveries(fn func(Delivery) error) error { return scan(t, bucketDelivery, nil, fn) }

// JobDeliveries returns the delivery records of one cache job.
func (t *Tx) JobDeliveries(job uint64) ([]Delivery, error) {
	var out []Delivery
	err := t.Deliveries(func(d Delivery) error {
		if d.JobID == job {
			out = append(out, d)
		}
		return nil
	})
	return out, err
}
