package cache

import (
	"fmt"
	"time"
)

// Release is an association its peer released with every instance it sent
// stored: the durable proof that what the association carried is all it
// meant to send. An association with no such record ended otherwise: it
// was aborted, refused an instance, or was cut by a crash or a power loss,
// and the sender owes a resend.
type Release struct {
	Remote string    // the peer's address and port, as Instance.Remote records it
	At     time.Time // when the release was answered
}

// RecordRelease makes a clean release durable, and forgets the releases
// older than keep before at (intake waits no longer than that for any
// series). Call it after Flush: every instance acknowledged on the
// association must be recorded before its release is.
func (s *Store) RecordRelease(r Release, keep time.Duration) error {
	return s.Update(func(t *Tx) error {
		b := t.tx.Bucket(bucketReleases)
		var old [][]byte
		if err := scan(t, bucketReleases, nil, func(o Release) error {
			if r.At.Sub(o.At) > keep {
				old = append(old, EncodeKey(o.Remote))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return fmt.Errorf("cache: forget a release: %w", err)
			}
		}
		return t.put(bucketReleases, EncodeKey(r.Remote), r)
	})
}

// Releases returns the latest clean release recorded for each remote.
func (t *Tx) Releases() (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := scan(t, bucketReleases, nil, func(r Release) error { out[r.Remote] = r.At; return nil })
	return out, err
}
