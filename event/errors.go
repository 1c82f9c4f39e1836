package event

import (
	"errors"
	"fmt"
)

// FencedError reports that a partition was committed by someone else since
// this pipeline loaded it.
type FencedError struct {
	Partition int32
	Expected  int64 // the offset the batch continued from; -1: none stored
}

func (e *FencedError) Error() string {
	return fmt.Sprintf("partition %d was committed by another consumer (the batch continued from offset %d)", e.Partition, e.Expected)
}

// IsFenced reports whether err is (or wraps) a *FencedError.
func IsFenced(err error) bool {
	var fe *FencedError
	return errors.As(err, &fe)
}

// Transient marks err as worth retrying: a lost connection, a serialization
// failure, a throttled upload. The pipeline retries a commit that fails with
// such an error. Transient(nil) is nil.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return transientError{err}
}

type transientError struct{ error }

func (e transientError) Unwrap() error   { return e.error }
func (e transientError) Transient() bool { return true }

// IsTransient reports whether err (or an error it wraps) says it is worth
// retrying, through a Transient() bool method. Stores mark connection loss
// and serialization failures this way.
func IsTransient(err error) bool {
	var t interface{ Transient() bool }
	return errors.As(err, &t) && t.Transient()
}
