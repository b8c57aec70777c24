package dcmguard_test

import (
	"errors"

	"github.com/suyashkumar/dicom/pkg/tag"
)

type tagT = tag.Tag

func errorsAs(err error, target any) bool { return errors.As(err, target) }
