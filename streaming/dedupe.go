package streaming

import "hash/maphash"

// dedupeSet remembers the event ids a partition accepted recently. Ids are
// grouped in generations of `span` microseconds of the partition's maximum
// event time at arrival; the current generation and the two before it are
// kept, so an id is remembered for at least 2×span = allowed lateness +
// session gap of event-time progress, late events included. Because the
// generations begin at known offsets, a restart rebuilds exactly the same
// sets from the events table.
type dedupeSet struct {
	span    int64
	gen     int64 // current generation; valid once started
	started bool
	sets    [3]map[[2]uint64]struct{} // generations gen-2, gen-1, gen
	starts  [3]int64                  // the offsets at which they began
	seed1   maphash.Seed
	seed2   maphash.Seed
}

func newDedupeSet(horizon int64) *dedupeSet {
	d := &dedupeSet{span: max(horizon/2, 1), seed1: maphash.MakeSeed(), seed2: maphash.MakeSeed()}
	for i := range d.sets {
		d.sets[i] = make(map[[2]uint64]struct{})
	}
	return d
}

func (d *dedupeSet) key(id string) [2]uint64 {
	return [2]uint64{maphash.String(d.seed1, id), maphash.String(d.seed2, id)}
}

// seen reports whether the id of key k was accepted within the kept
// generations.
func (d *dedupeSet) seen(k [2]uint64) bool {
	for i := 2; i >= 0; i-- { // a duplicate is most often a recent one
		if _, ok := d.sets[i][k]; ok {
			return true
		}
	}
	return false
}

func (d *dedupeSet) add(k [2]uint64) {
	d.sets[2][k] = struct{}{}
}

// advance moves to the generation of maxTime; a new generation begins at
// offset, the offset of the record that moved it.
func (d *dedupeSet) advance(maxTime, offset int64) {
	g := floorDiv(maxTime, d.span)
	if !d.started {
		d.gen, d.started = g, true
		d.starts = [3]int64{offset, offset, offset}
		return
	}
	steps := g - d.gen
	if steps <= 0 {
		return
	}
	if steps >= 3 { // everything kept is too old
		steps = 3
	}
	for ; steps > 0; steps-- {
		// Size the new generation like the last: growing a map rehashes it.
		d.sets[0], d.sets[1], d.sets[2] = d.sets[1], d.sets[2], make(map[[2]uint64]struct{}, len(d.sets[2]))
		d.starts[0], d.starts[1], d.starts[2] = d.starts[1], d.starts[2], offset
	}
	d.gen = g
}

// restore puts back an accepted id read from the warehouse.
func (d *dedupeSet) restore(id string, offset int64) {
	i := 0
	for i < 2 && offset >= d.starts[i+1] {
		i++
	}
	d.sets[i][d.key(id)] = struct{}{}
}

func (d *dedupeSet) size() int { return len(d.sets[0]) + len(d.sets[1]) + len(d.sets[2]) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
