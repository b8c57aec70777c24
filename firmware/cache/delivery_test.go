package cache

import (
	"encoding/binary"
	"testing"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
)

// TestMigrateSchema2 opens a schema-2 cache (no deliveries bucket): Open
// adds the bucket and the deliveries round-trip.
func TestMigrateSchema2(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketDelivery); err != nil {
			return err
		}
		return putSchema(tx, 2)
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(dir, Options{NoSync: true})
	if err != nil {
		t.Fatalf("open a schema-2 cache: %v", err)
	}
	defer s.Close()
	var v []byte
	s.db.View(func(tx *bolt.Tx) error { v = append(v, tx.Bucket(bucketMeta).Get(keySchema)...); return nil })
	if got := binary.BigEndian.Uint64(v); got != SchemaVersion {
		t.Errorf("schema %d after migration, want %d", got, SchemaVersion)
	}
	want := []Delivery{
		{ID: "a-pacs-1", JobID: 3, Destination: "pacs", State: "pending", Files: []string{"/r/sr.dcm"}, Body: []byte(`{"id":"a-pacs-1"}`)},
		{ID: "a-pacs-2", JobID: 4, Destination: "pacs", State: "delivered", Body: []byte(`{}`)},
	}
	if err := s.Update(func(tx *Tx) error {
		for _, d := range want {
			if err := tx.PutDelivery(d); err != nil {
				return err
			}
		}
		return tx.PutDelivery(Delivery{})
	}); err == nil {
		t.Fatal("a delivery without an id was stored")
	}
	if err := s.Update(func(tx *Tx) error {
		for _, d := range want {
			if err := tx.PutDelivery(d); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var got []Delivery
	var of3 []Delivery
	s.View(func(tx *Tx) error {
		of3, _ = tx.JobDeliveries(3)
		return tx.Deliveries(func(d Delivery) error { got = append(got, d); return nil })
	})
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("deliveries (-want +got):\n%s", d)
	}
	if len(of3) != 1 || of3[0].ID != "a-pacs-1" {
		t.Errorf("JobDeliveries(3) = %+v", of3)
	}
}
