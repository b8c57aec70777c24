package cache_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"metsentry/firmware/cache"
)

// Example shows what the SCP and the stages after it do with a store: the
// SCP writes a received file into CreateTemp's file and hands it to
// PutInstance; the intake and the runner read and move jobs in transactions.
func Example() {
	dir, err := os.MkdirTemp("", "cache-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	s, err := cache.Open(dir, cache.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	// One real instance, as a DICOM peer would send it.
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "data", "dicom", "ge-mprage-ax-oblique", "i152.MRDC.5"))
	if err != nil {
		fmt.Println(err)
		return
	}
	f, err := s.CreateTemp()
	if err != nil {
		fmt.Println(err)
		return
	}
	f.Write(data)
	if err := s.PutInstance(context.Background(), f, cache.Received{CallingAE: "MRCONSOLE"}); err != nil {
		fmt.Println(err)
		return
	}

	s.View(func(tx *cache.Tx) error {
		return tx.Jobs(func(j cache.Job) error {
			series, _ := tx.StudySeries(j.StudyInstanceUID)
			fmt.Printf("job %d %s: %d series, series %d holds %d of %d (%s)\n", j.ID, j.State, len(series),
				series[0].Attrs.SeriesNumber, series[0].Count, series[0].Expected, series[0].ExpectedFrom)
			return nil
		})
	})
	// Output: job 1 waiting: 1 series, series 5 holds 1 of 130 (ImagesInAcquisition)
}
