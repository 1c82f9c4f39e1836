package generator

import (
	"math"
	"time"
)

// Clock maps wall-clock time to simulated time for live traffic. Simulated
// time starts at Start when the wall clock reads WallStart and runs Speedup
// times faster, but never ahead of the wall clock: once it has caught up it
// runs at real time. So with Start in the past, a live stream first replays
// history quickly and then continues in real time, and no valid record ever
// carries an event_time after the moment it is sent.
type Clock struct {
	Start     time.Time // simulated time at WallStart
	WallStart time.Time
	Speedup   float64 // > 0
}

// Clock returns the live clock of g's configuration, started at wallStart
// (normally time.Now(), with Config.Start = wallStart minus a backfill).
func (g *Generator) Clock(wallStart time.Time) Clock {
	return Clock{Start: g.cfg.Start, WallStart: wallStart, Speedup: g.cfg.Speedup}
}

// Sim returns the simulated time at wall time w: Start + (w−WallStart)×Speedup,
// capped at w.
func (c Clock) Sim(w time.Time) time.Time {
	ahead := float64(w.Sub(c.Start)) // how far the wall clock is ahead of Start
	d := float64(w.Sub(c.WallStart)) * c.Speedup
	if d >= ahead {
		return w
	}
	return c.Start.Add(time.Duration(d))
}

// Due returns the earliest wall time at which the simulated clock reaches
// sim: a record returned by Next with emitAt may be sent at Due(emitAt).
// Sleeping until then paces a live stream; sending no earlier keeps every
// event_time at or before the wall clock.
func (c Clock) Due(sim time.Time) time.Time {
	f := float64(sim.Sub(c.Start)) / c.Speedup
	if f > math.MaxInt64/2 { // a pathological Speedup: clamp to ~146 years
		f = math.MaxInt64 / 2
	}
	w := c.WallStart.Add(time.Duration(f))
	if sim.After(w) {
		return sim
	}
	return w
}
