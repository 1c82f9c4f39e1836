package generator

import (
	"errors"
	"fmt"
	"time"
)

// DefaultStart is the simulated start time of DefaultConfig. It is a fixed
// instant so that file output is reproducible; live callers replace it with a
// time in the past (see Clock).
var DefaultStart = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// Limits accepted by Config.Validate.
const (
	MaxUsers    = 10_000_000 // about 50 bytes of memory per user
	MaxProducts = 1_000_000
)

// Config describes the simulated shop and the irregularities to inject.
//
// The rates OutOfOrder, Late, Duplicate and Malformed are fractions of all
// emitted records; together they must not exceed 1. They use a random stream
// of their own, so turning them on leaves the underlying clean clickstream of
// a seed unchanged (it is only delayed, repeated or interleaved with junk).
type Config struct {
	// Seed selects the shop (catalog, users) and the whole event stream.
	Seed uint64
	// RunID, when set, tells apart several runs with the same Seed, such as
	// the restarts of a live demo (see NewRunID): it goes into every
	// event_id (e-<seed>-<run>-<n> instead of e-<seed>-<n>), so that no id
	// repeats one of another run, and it selects the clickstream (who visits
	// when, and what they do) along with Seed. The shop, catalog and users
	// with their traits, still comes from Seed alone. Empty, the default,
	// gives the reproducible stream of Seed. At most 32 ASCII letters and
	// digits.
	RunID string
	// Users is the size of the user population; activity is heavy-tailed.
	Users int
	// Products is the size of the catalog.
	Products int
	// Start is the simulated time of the beginning of the stream, truncated to
	// microseconds. Live callers set it in the past (see Clock).
	Start time.Time
	// Speedup is how many simulated seconds pass per wall-clock second in live
	// use (see Clock). File output ignores it.
	Speedup float64
	// SessionGap is the inactivity gap that separates sessions. Pauses within
	// a session stay below SessionGap/4 (at most 10 min); two sessions of a
	// user are at least SessionGap + 1 min apart.
	SessionGap time.Duration
	// SessionsPerUserDay is the mean number of sessions per user per
	// simulated day (over all users; heavy users have many more).
	SessionsPerUserDay float64
	// CartRate is the fraction of sessions that add at least one product to
	// the cart.
	CartRate float64
	// PurchaseRate is the fraction of sessions with a cart that buy it.
	PurchaseRate float64
	// DailyAmplitude shapes the daily traffic curve: the session rate is
	// 1 + DailyAmplitude×cos(2π(hour−19)/24) times the mean (peak at 19:00
	// UTC, trough at 07:00). 0 is flat.
	DailyAmplitude float64
	// ExoticUserIDs gives about 1% of users ids with quotes, commas,
	// backslashes and non-Latin letters instead of "u000123".
	ExoticUserIDs bool

	// OutOfOrder: a valid event emitted 1 s–5 min (event time) after its
	// time, behind newer events, but still within a 10 min allowed lateness.
	OutOfOrder float64
	// Late: a valid event emitted once the simulated clock is 15–120 min past
	// its time, so it is older than a 10 min allowed lateness.
	Late float64
	// Duplicate: the exact same line as one of the last 16 on-time valid
	// records, emitted again.
	Duplicate float64
	// Malformed: a record that a consumer must reject; see MalformedKinds.
	Malformed float64
}

// DefaultConfig returns the demo shop: 10,000 users, 500 products, a
// 30-minute session gap, 2 sessions per user per day, 30% of sessions with a
// cart, 35% of carts bought, exotic user ids on, no irregular records, 60×
// speed-up, starting at DefaultStart.
func DefaultConfig() Config {
	return Config{
		Seed:               1,
		Users:              10_000,
		Products:           500,
		Start:              DefaultStart,
		Speedup:            60,
		SessionGap:         30 * time.Minute,
		SessionsPerUserDay: 2,
		CartRate:           0.30,
		PurchaseRate:       0.35,
		DailyAmplitude:     0.6,
		ExoticUserIDs:      true,
	}
}

// Validate reports every invalid setting of c, or nil.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("generator: "+format, args...))
	}
	if c.Users < 1 || c.Users > MaxUsers {
		bad("Users must be in [1, %d], got %d", MaxUsers, c.Users)
	}
	if c.Products < 1 || c.Products > MaxProducts {
		bad("Products must be in [1, %d], got %d", MaxProducts, c.Products)
	}
	if y := c.Start.Year(); c.Start.IsZero() || y < 1900 || y > 9000 {
		bad("Start must be set, between the years 1900 and 9000, got %v", c.Start)
	}
	if !validRunID(c.RunID) {
		bad("RunID must be at most %d ASCII letters and digits, got %q", maxRunID, c.RunID)
	}
	if !(c.Speedup > 0 && c.Speedup <= 1e6) {
		bad("Speedup must be in (0, 1e6], got %v", c.Speedup)
	}
	if c.SessionGap < time.Minute || c.SessionGap > 24*time.Hour {
		bad("SessionGap must be between 1m and 24h, got %v", c.SessionGap)
	}
	// More than ~20 sessions a day on average is impossible to honour with
	// a heavy tail of users and a 30-minute gap.
	if !(c.SessionsPerUserDay > 0 && c.SessionsPerUserDay <= 20) {
		bad("SessionsPerUserDay must be in (0, 20], got %v", c.SessionsPerUserDay)
	}
	if !(c.DailyAmplitude >= 0 && c.DailyAmplitude < 1) {
		bad("DailyAmplitude must be in [0, 1), got %v", c.DailyAmplitude)
	}
	for _, r := range []struct {
		name string
		v    float64
	}{
		{"CartRate", c.CartRate}, {"PurchaseRate", c.PurchaseRate},
		{"OutOfOrder", c.OutOfOrder}, {"Late", c.Late},
		{"Duplicate", c.Duplicate}, {"Malformed", c.Malformed},
	} {
		if !(r.v >= 0 && r.v <= 1) { // also rejects NaN
			bad("%s must be in [0, 1], got %v", r.name, r.v)
		}
	}
	if s := c.OutOfOrder + c.Late + c.Duplicate + c.Malformed; s > 1+1e-9 {
		bad("OutOfOrder+Late+Duplicate+Malformed must be at most 1, got %v", s)
	}
	return errors.Join(errs...)
}
