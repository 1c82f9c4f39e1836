package event

import (
	"errors"
	"fmt"
)

// Reason says why a record was rejected.
type Reason uint8

// Rejection reasons of spec §1.
const (
	MalformedJSON Reason = iota + 1
	MissingField
	InvalidValue
	UnknownEventType
	FutureEventTime
	Duplicate
)

var reasonNames = [...]string{
	MalformedJSON:    "malformed_json",
	MissingField:     "missing_field",
	InvalidValue:     "invalid_value",
	UnknownEventType: "unknown_event_type",
	FutureEventTime:  "future_event_time",
	Duplicate:        "duplicate",
}

func (r Reason) String() string {
	if r >= MalformedJSON && r <= Duplicate {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// Reasons lists every rejection reason in a stable order.
func Reasons() []Reason {
	return []Reason{MalformedJSON, MissingField, InvalidValue, UnknownEventType, FutureEventTime, Duplicate}
}

// RejectError is the error Decode returns for a record that must be rejected.
type RejectError struct {
	Reason Reason
	Detail string
}

func (e *RejectError) Error() string { return e.Reason.String() + ": " + e.Detail }

// ReasonOf returns the rejection reason carried by err, or 0 when err is not
// a *RejectError.
func ReasonOf(err error) Reason {
	var re *RejectError
	if errors.As(err, &re) {
		return re.Reason
	}
	return 0
}

func reject(r Reason, format string, args ...any) *RejectError {
	return &RejectError{Reason: r, Detail: fmt.Sprintf(format, args...)}
}
