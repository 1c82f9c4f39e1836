package streaming

import (
	"strconv"

	"github.com/cartwheel-analytics/cartwheel/event"
)

// partition is the state of one assigned partition: its position, its
// watermark, its open sessions and its recent event ids. It is only touched
// under the pipeline's lock.
type partition struct {
	id        int32
	gap       int64 // µs
	lateness  int64 // µs
	committed int64 // NextOffset of the last checkpoint cut, -1 if none
	next      int64 // next offset to read, -1 until the first record
	maxTime   int64 // max accepted event time, or NoTime
	sessions  *sessionStore
	dedupe    *dedupeSet
	dirty     bool // changed since the last checkpoint cut
	// For idle advancement: the wall clock and maxTime at the last record.
	lastWall, lastMax int64
}

func newPartition(id int32, gap, lateness int64) *partition {
	return &partition{
		id: id, gap: gap, lateness: lateness,
		committed: -1, next: -1, maxTime: event.NoTime,
		sessions: newSessionStore(gap),
		dedupe:   newDedupeSet(gap + lateness),
	}
}

// watermark returns the partition's watermark, or NoTime.
func (p *partition) watermark() int64 {
	if p.maxTime == event.NoTime {
		return event.NoTime
	}
	return p.maxTime - p.lateness
}

// accept applies one decoded event at offset: duplicate check, lateness,
// sessionization. It reports whether the event is a duplicate.
func (p *partition) accept(e *event.Event) (duplicate bool) {
	id := p.dedupe.key(e.EventID)
	if p.dedupe.seen(id) {
		return true
	}
	wm := p.watermark()
	e.Late = wm != event.NoTime && e.Time < wm
	if !e.Late {
		p.sessions.add(e.UserID, e.Time, e.Type, e.Revenue())
	}
	if p.maxTime == event.NoTime || e.Time > p.maxTime {
		p.maxTime = e.Time
		p.dedupe.advance(p.maxTime, e.Offset)
	}
	p.dedupe.add(id)
	return false
}

// seen records that offset was read at wall time now (µs).
func (p *partition) seen(offset, now int64) {
	p.next = offset + 1
	p.lastWall, p.lastMax = now, p.maxTime
	p.dirty = true
}

// idle advances the watermark with the wall clock once the partition has
// received nothing for idleTimeout: event time is assumed to flow at wall
// speed from the last record on (live mode only).
func (p *partition) idle(now, idleTimeout int64) {
	if p.maxTime == event.NoTime || p.lastWall == 0 || now-p.lastWall < idleTimeout {
		return
	}
	if t := p.lastMax + (now - p.lastWall); t > p.maxTime {
		p.maxTime = t
		p.dedupe.advance(t, p.next)
		p.dirty = true
	}
}

// checkpoint closes the ready (or, at the end of input, all) sessions into
// out and returns the partition's checkpoint.
func (p *partition) checkpoint(out []event.Session, all bool) ([]event.Session, event.Checkpoint) {
	if all {
		out = p.sessions.closeAll(p.id, out)
	} else if wm := p.watermark(); wm != event.NoTime {
		out = p.sessions.closeUntil(wm, p.id, out)
	}
	cp := event.Checkpoint{
		Partition:    p.id,
		PrevOffset:   p.committed,
		NextOffset:   p.next,
		MaxEventTime: p.maxTime,
		OpenFrom:     event.NoTime,
		DedupeGen:    p.dedupe.gen,
		DedupeStarts: p.dedupe.starts,
	}
	if p.sessions.open > 0 {
		cp.OpenFrom = p.sessions.startBound
	}
	p.committed = p.next
	p.dirty = false
	return out, cp
}

// restore rebuilds the partition from its committed snapshot.
func (p *partition) restore(s *event.Snapshot, now int64) {
	cp := s.Checkpoint
	if cp == nil {
		return
	}
	p.committed, p.next, p.maxTime = cp.NextOffset, cp.NextOffset, cp.MaxEventTime
	p.lastWall, p.lastMax = now, cp.MaxEventTime
	if cp.MaxEventTime != event.NoTime {
		d := p.dedupe
		d.started, d.gen, d.starts = true, cp.DedupeGen, cp.DedupeStarts
		if g := floorDiv(cp.MaxEventTime, d.span); g != d.gen {
			// The horizon changed since the checkpoint: keep what was
			// remembered, under the new numbering.
			d.gen = g
		}
		for _, id := range s.RecentIDs {
			d.restore(id.EventID, id.Offset)
		}
	}
	closed := make(map[string][]event.SessionSpan, len(s.ClosedSessions))
	for _, c := range s.ClosedSessions {
		closed[c.UserID] = append(closed[c.UserID], c)
	}
outer:
	for _, e := range s.OpenEvents {
		for _, c := range closed[e.UserID] {
			if e.Time >= c.Start && e.Time <= c.End {
				continue outer
			}
		}
		p.sessions.add(e.UserID, e.Time, e.Type, e.Revenue)
	}
}

func (p *partition) String() string { return "partition " + strconv.Itoa(int(p.id)) }
