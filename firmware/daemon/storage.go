package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"

	"metsentry/firmware/cache"
	"metsentry/firmware/dimse"
)

// cacheStorage adapts the cache to the SCP's Storage: the SCP answers
// Success only after the cache has made the instance durable and recorded.
type cacheStorage struct {
	store *cache.Store
	// stored is called after each recorded instance (intake's Wake).
	stored func()
}

var _ dimse.Storage = (*cacheStorage)(nil)

func (c *cacheStorage) CreateTemp() (*os.File, error) {
	f, err := c.store.CreateTemp()
	return f, mapStoreErr(err)
}

func (c *cacheStorage) Store(ctx context.Context, f *os.File, in dimse.Instance) error {
	err := c.store.PutInstance(ctx, f, cache.Received{
		SOPClassUID: in.SOPClassUID, SOPInstanceUID: in.SOPInstanceUID, TransferSyntaxUID: in.TransferSyntaxUID,
		CallingAE: in.CallingAE, CalledAE: in.CalledAE, Remote: in.Remote.String(),
		SHA256: in.SHA256, DataSetSHA256: in.DataSetSHA256, // in.Size counts the data set only, not the file
	})
	if err == nil && c.stored != nil {
		c.stored()
	}
	return mapStoreErr(err)
}

// mapStoreErr gives cache errors the meaning the SCP answers with: a full
// disk is A700, a data set that contradicts its request A900.
func mapStoreErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, cache.ErrDiskFull):
		return fmt.Errorf("%w: %w", dimse.ErrOutOfResources, err)
	case errors.Is(err, cache.ErrUIDMismatch):
		return fmt.Errorf("%w: %w", dimse.ErrDataSetMismatch, err)
	}
	return err
}
