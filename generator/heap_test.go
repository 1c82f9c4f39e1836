package generator

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestMinHeap: values leave in key order, whatever the pushes, pops and
// re-keyings in between.
func TestMinHeap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h minHeap[int]
	var keys []int64 // the keys in the heap, as a sorted reference
	for range 10_000 {
		switch op := rng.IntN(5); {
		case op < 3 || len(h) == 0:
			k := rng.Int64N(100)
			h.push(k, int(k))
			keys = append(keys, k)
		case op == 3:
			slices.Sort(keys)
			if v := h.pop(); int64(v) != keys[0] {
				t.Fatalf("pop = %d, want %d", v, keys[0])
			}
			keys = keys[1:]
		default:
			slices.Sort(keys)
			k := keys[0] + rng.Int64N(50)
			h[0].v = int(k)
			h.rekeyMin(k)
			keys[0] = k
		}
	}
	slices.Sort(keys)
	for _, want := range keys {
		if v := h.pop(); int64(v) != want {
			t.Fatalf("pop = %d, want %d", v, want)
		}
	}
	if len(h) != 0 {
		t.Errorf("%d values left", len(h))
	}
}
