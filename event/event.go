// Package event is the contract the stages share: the shop event of spec §1,
// its decoding and validation, and the batches a pipeline commits to a store.
package event

import (
	"fmt"
	"time"
)

// EventType is one of the three kinds of shop events.
type EventType uint8

// The event types of spec §1.
const (
	PageView EventType = iota + 1
	AddToCart
	Purchase
)

var eventTypeNames = [...]string{PageView: "page_view", AddToCart: "add_to_cart", Purchase: "purchase"}

func (t EventType) String() string {
	if t >= PageView && t <= Purchase {
		return eventTypeNames[t]
	}
	return fmt.Sprintf("EventType(%d)", uint8(t))
}

// Optional fields of an Event that were present in the record. A field given
// as "" is present and kept as "", an absent one is stored as NULL.
const (
	HasProductID uint16 = 1 << iota
	HasPrice
	HasClientSessionID
	HasDevice
	HasCountry
	HasCategory
	HasReferrer
)

// Event is an accepted event, normalised: times are microseconds since the
// Unix epoch in UTC, money is in cents.
//
// Strings returned by Decode may alias the decoded record value; anything that
// outlives the record must copy them.
type Event struct {
	EventID         string
	UserID          string
	Time            int64 // event_time, µs since epoch, UTC
	Type            EventType
	Has             uint16 // Has* bits for the optional fields below
	ProductID       string
	Price           int64 // cents
	Quantity        int32
	ClientSessionID string // the client's session_id: a hint, kept as given
	Device          string
	Country         string
	Category        string
	Referrer        string

	// Set by the pipeline.
	Late      bool
	Partition int32
	Offset    int64
}

// Revenue is price × quantity for purchases, else 0, in cents.
func (e *Event) Revenue() int64 {
	if e.Type != Purchase {
		return 0
	}
	return e.Price * int64(e.Quantity)
}

// Limits of spec §1.
const (
	MaxEventIDBytes = 128
	MaxUserIDBytes  = 256
	// MaxTextBytes bounds the optional strings so that every warehouse,
	// Redshift's VARCHAR(256) included, stores them whole.
	MaxTextBytes  = 256
	MaxPriceCents = 100_000_000 // 1,000,000.00
	MaxQuantity   = 1000
	// FutureTolerance is how far ahead of the wall clock an event may be.
	FutureTolerance = 24 * time.Hour
)

// Micros converts t to microseconds since the Unix epoch.
func Micros(t time.Time) int64 { return t.UnixMicro() }

// TimeOf converts microseconds since the Unix epoch to a UTC time.
func TimeOf(us int64) time.Time { return time.UnixMicro(us).UTC() }
