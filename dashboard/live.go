package dashboard

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Lag measures the consumer lag of a pipeline: the records of the topic
// past the offsets its commits have reached. Feed it the committed offsets
// (streaming.WithCommittedOffsets) and give it the topic's end offsets.
type Lag struct {
	end  func(context.Context) (map[int32]int64, error)
	mu   sync.Mutex
	next map[int32]int64
}

// NewLag returns a Lag that reads the topic's end offsets with end.
func NewLag(end func(context.Context) (map[int32]int64, error)) *Lag {
	return &Lag{end: end, next: map[int32]int64{}}
}

// Committed records the next offsets a commit reached, by partition.
func (l *Lag) Committed(next map[int32]int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for p, o := range next {
		if o > l.next[p] {
			l.next[p] = o
		}
	}
}

// Measure returns the records not committed yet over the partitions that
// have had a commit; an error before the first commit.
func (l *Lag) Measure(ctx context.Context) (int64, error) {
	l.mu.Lock()
	next := maps.Clone(l.next)
	l.mu.Unlock()
	if len(next) == 0 {
		return 0, errors.New("no commit yet")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	end, err := l.end(ctx)
	if err != nil {
		return 0, err
	}
	var lag int64
	for p, e := range end {
		if n, ok := next[p]; ok && e > n {
			lag += e - n
		}
	}
	return lag, nil
}

// LazyDir serves a directory that build writes on the first request (and
// again after a failed build): the models' docs site, which compiles
// every model and is not needed until someone opens it.
func LazyDir(dir string, build func(ctx context.Context, dir string) error) http.Handler {
	var (
		mu    sync.Mutex
		built bool
	)
	files := http.FileServer(http.Dir(dir))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if !built {
			ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
			err := os.MkdirAll(filepath.Clean(dir), 0o755)
			if err == nil {
				err = build(ctx, dir)
			}
			cancel()
			if err != nil {
				mu.Unlock()
				http.Error(w, "build the docs: "+err.Error(), http.StatusInternalServerError)
				return
			}
			built = true
		}
		mu.Unlock()
		// The docs site is self-contained (inline style and script).
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		files.ServeHTTP(w, r)
	})
}
