package generator

// minHeap is a binary min-heap of values by an int64 key, for the open
// sessions (by next step time) and the held-back events (by release time).
// The sifts are written out, with the key beside the value, because
// container/heap's interface costs a call and a boxing per comparison.
// Which of two equal keys leaves first depends only on the sequence of
// operations, so a seeded run stays reproducible.
type minHeap[T any] []heapItem[T]

type heapItem[T any] struct {
	key int64
	v   T
}

// push adds v under key.
func (h *minHeap[T]) push(key int64, v T) {
	s := append(*h, heapItem[T]{key, v})
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if s[p].key <= s[i].key {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
	*h = s
}

// pop removes the value of the least key and returns it.
func (h *minHeap[T]) pop() T {
	s := *h
	top := s[0].v
	n := len(s) - 1
	s[0] = s[n]
	s[n] = heapItem[T]{} // drop the reference for the collector
	*h = s[:n]
	h.down()
	return top
}

// rekeyMin gives the value of the least key a new key, which must not be
// less than the old one.
func (h minHeap[T]) rekeyMin(key int64) {
	h[0].key = key
	h.down()
}

// down sifts the root down to its place.
func (h minHeap[T]) down() {
	for i := 0; ; {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h[r].key < h[l].key {
			m = r
		}
		if h[i].key <= h[m].key {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}
