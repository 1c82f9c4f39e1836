package streaming

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/cartwheel-analytics/cartwheel/event"
)

// TestFigureSessionMemory measures the heap held per open session with one
// million active users (CARTWHEEL_FIGURES=1; `make bench` runs it).
func TestFigureSessionMemory(t *testing.T) {
	if os.Getenv("CARTWHEEL_FIGURES") == "" {
		t.Skip("set CARTWHEEL_FIGURES=1")
	}
	const users = 1_000_000
	ids := make([]string, users)
	for i := range ids {
		ids[i] = fmt.Sprintf("u%07d", i)
	}
	base := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC).UnixMicro()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	st := newSessionStore(DefaultGap.Microseconds())
	for i, u := range ids {
		st.add(u, base+int64(i), event.PageView, 0)
		st.add(u, base+int64(i)+1_000_000, event.Purchase, 1999)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if st.open != users {
		t.Fatalf("%d open sessions", st.open)
	}
	perSession := float64(after.HeapAlloc-before.HeapAlloc) / users
	fmt.Printf("FIGURE bytes per open session (1M users, user ids of 8 bytes): %.1f\n", perSession)
	runtime.KeepAlive(st)
	runtime.KeepAlive(ids)
}
