package cache

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// migrations[n] turns schema n into schema n+1 inside the open transaction.
// Each step is tested with a database built in the older layout
// (migrate_test.go), so a firmware update reads the cache it finds.
var migrations = map[int]func(*Tx) error{
	1: migrate1to2,
	2: migrate2to3,
	3: migrate3to4,
}

// migrate brings the database to SchemaVersion in one transaction: either
// every step applies or none does.
func (s *Store) migrate() error {
	return s.Update(func(t *Tx) error {
		meta := t.tx.Bucket(bucketMeta)
		if meta == nil {
			empty := true
			t.tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil }) //nolint:errcheck // never fails
			if !empty {
				return fmt.Errorf("%w: buckets present but no meta bucket (not a metsentry cache?)", ErrCorrupt)
			}
			for _, b := range allBuckets {
				if _, err := t.tx.CreateBucket(b); err != nil {
					return fmt.Errorf("cache: create bucket %s: %w", b, err)
				}
			}
			return putSchema(t.tx, SchemaVersion)
		}
		v := meta.Get(keySchema)
		if len(v) != 8 {
			return fmt.Errorf("%w: schema number is %d bytes (expected 8)", ErrCorrupt, len(v))
		}
		ver := int(binary.BigEndian.Uint64(v))
		if ver > SchemaVersion {
			return fmt.Errorf("%w: schema %d (this firmware knows up to %d; install the newer firmware again or move the cache aside)", ErrSchemaTooNew, ver, SchemaVersion)
		}
		for ver < SchemaVersion {
			step, ok := migrations[ver]
			if !ok {
				return fmt.Errorf("%w: no migration from schema %d", ErrCorrupt, ver)
			}
			if err := step(t); err != nil {
				return fmt.Errorf("cache: migrate schema %d to %d: %w", ver, ver+1, err)
			}
			ver++
			if err := putSchema(t.tx, ver); err != nil {
				return err
			}
		}
		return nil
	})
}

func putSchema(tx *bolt.Tx, ver int) error {
	return tx.Bucket(bucketMeta).Put(keySchema, binary.BigEndian.AppendUint64(nil, uint64(ver)))
}

// instanceV1 is an instance record of schema 1 (the first receiving-only
// firmware): plain JSON keyed by SOP Instance UID, the file under "File" and
// its hash as hex; no series, study or job records.
type instanceV1 struct {
	Header
	File       string
	Size       int64
	SHA256     string
	ReceivedAt time.Time
	CallingAE  string
}

// migrate1to2 re-keys instances by (study, series, sop) with versioned
// values, adds the SOP index, and rebuilds series, study and job state from
// the instances, so intake decides those studies as if they had just arrived.
func migrate1to2(t *Tx) error {
	old := t.tx.Bucket(bucketInstances)
	if old == nil {
		return fmt.Errorf("%w: schema 1 without an instances bucket", ErrCorrupt)
	}
	var insts []Instance
	err := old.ForEach(func(k, v []byte) error {
		var o instanceV1
		if err := json.Unmarshal(v, &o); err != nil {
			return fmt.Errorf("%w: schema 1 instance %q: %v", ErrCorrupt, k, err)
		}
		in := Instance{Header: o.Header, Path: o.File, Size: o.Size, ReceivedAt: o.ReceivedAt, CallingAE: o.CallingAE}
		if in.SOPInstanceUID == "" {
			in.SOPInstanceUID = string(k)
		}
		h, err := hex.DecodeString(o.SHA256)
		if err != nil || len(h) != 32 {
			return fmt.Errorf("%w: schema 1 instance %q: sha256 %q is not 64 hex digits", ErrCorrupt, k, o.SHA256)
		}
		copy(in.SHA256[:], h)
		insts = append(insts, in)
		return nil
	})
	if err != nil {
		return err
	}
	if err := t.tx.DeleteBucket(bucketInstances); err != nil {
		return err
	}
	for _, b := range allBuckets {
		if _, err := t.tx.CreateBucketIfNotExists(b); err != nil {
			return fmt.Errorf("cache: create bucket %s: %w", b, err)
		}
	}
	slices.SortFunc(insts, func(a, b Instance) int { return a.ReceivedAt.Compare(b.ReceivedAt) })
	for _, in := range insts {
		if _, err := t.applyInstance(in); err != nil {
			return err
		}
	}
	return t.Audit(AuditEvent{Kind: "migrate", Msg: fmt.Sprintf("cache schema 1 migrated to 2: %d instances re-keyed, series and studies rebuilt", len(insts))})
}

// migrate2to3 adds the deliveries bucket: the outbox's queue, kept in the
// cache since the daemon delivers results itself.
func migrate2to3(t *Tx) error {
	if _, err := t.tx.CreateBucketIfNotExists(bucketDelivery); err != nil {
		return fmt.Errorf("cache: create bucket %s: %w", bucketDelivery, err)
	}
	return nil
}

// migrate3to4 adds the releases and steps buckets. A series received
// before it (its LastRemote empty, no release recorded) counts as cut off,
// as after a crash: it waits for a resend or completeness.max_wait rather
// than the quiet period, unless its images carry a count that has arrived.
func migrate3to4(t *Tx) error {
	for _, b := range [][]byte{bucketReleases, bucketSteps} {
		if _, err := t.tx.CreateBucketIfNotExists(b); err != nil {
			return fmt.Errorf("cache: create bucket %s: %w", b, err)
		}
	}
	return nil
}
