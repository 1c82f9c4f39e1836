package appliance

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofrs/flock"

	"github.com/cartwheel-analytics/cartwheel/producer"
)

func shortCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestRuntimePaths(t *testing.T) {
	if got := runtimePath("data/cartwheel.duckdb"); got != "data/cartwheel.duckdb.appliance.json" {
		t.Errorf("runtimePath = %q", got)
	}
	if got := lockPath("data/cartwheel.duckdb"); got != "data/cartwheel.duckdb.appliance.lock" {
		t.Errorf("lockPath = %q", got)
	}
}

func TestWriteRuntime(t *testing.T) {
	db := filepath.Join(t.TempDir(), "w.duckdb")
	info := runtimeInfo{PID: 42, HTTP: "127.0.0.1:8080", Token: "secret"}
	if err := writeRuntime(db, info); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(runtimePath(db))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"pid":42,"http":"127.0.0.1:8080","token":"secret"}` {
		t.Errorf("runtime file = %s", b)
	}
	// It holds the token: only the owner may read it.
	st, err := os.Stat(runtimePath(db))
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("runtime file mode %v is readable by others", perm)
	}
	if _, err := os.Stat(runtimePath(db) + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary file left behind: %v", err)
	}
	// Rewriting replaces it whole.
	if err := writeRuntime(db, runtimeInfo{PID: 7, HTTP: "h:1"}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(runtimePath(db)); string(b) != `{"pid":7,"http":"h:1","token":""}` {
		t.Errorf("rewritten runtime file = %s", b)
	}
	if err := writeRuntime(filepath.Join(t.TempDir(), "missing", "w.duckdb"), info); err == nil {
		t.Error("writeRuntime into a missing directory succeeded")
	}
}

func TestLockAppliance(t *testing.T) {
	db := filepath.Join(t.TempDir(), "sub", "dir", "w.duckdb")
	l, err := lockAppliance(shortCtx(t, 5*time.Second), db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(db)); err != nil {
		t.Errorf("the warehouse directory was not created: %v", err)
	}
	// A second appliance on the same file waits, then gives up with ctx.
	start := time.Now()
	l2, err := lockAppliance(shortCtx(t, 200*time.Millisecond), db)
	if err == nil {
		l2.Unlock()
		t.Fatal("a second appliance took the lock")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want the context's", err)
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 3*time.Second {
		t.Errorf("gave up after %v, want the context's 200 ms", d)
	}
	// A reader holding the shared lock briefly is waited for.
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	reader := flock.New(lockPath(db))
	if ok, err := reader.TryRLock(); !ok || err != nil {
		t.Fatalf("reader lock: %v %v", ok, err)
	}
	time.AfterFunc(150*time.Millisecond, func() { reader.Unlock() })
	l3, err := lockAppliance(shortCtx(t, 5*time.Second), db)
	if err != nil {
		t.Fatalf("after the reader left: %v", err)
	}
	l3.Unlock()
}

func TestLockApplianceCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	db := filepath.Join(t.TempDir(), "w.duckdb")
	if l, err := lockAppliance(ctx, db); !errors.Is(err, context.Canceled) {
		if l != nil {
			l.Unlock()
		}
		t.Fatalf("lockAppliance with a canceled context = %v", err)
	}
}

// canceledOnceLocked is a context that reports itself canceled as soon as
// someone holds the appliance lock of its file: a cancel that lands just
// after lockAppliance took the lock, before it looked at ctx again.
type canceledOnceLocked struct {
	context.Context
	lock string
}

func (c canceledOnceLocked) Err() error {
	probe := flock.New(c.lock)
	if ok, err := probe.TryLock(); err == nil && ok {
		probe.Unlock()
		return nil
	}
	return context.Canceled
}

// TestLockApplianceCanceledAfterLocking: a lock taken as ctx ends is
// released; lockAppliance used to return ctx's error while still holding
// it, so nobody (not even a restarted appliance of the same process)
// could take it until the process ended.
func TestLockApplianceCanceledAfterLocking(t *testing.T) {
	db := filepath.Join(t.TempDir(), "w.duckdb")
	l, err := lockAppliance(canceledOnceLocked{context.Background(), lockPath(db)}, db)
	if !errors.Is(err, context.Canceled) {
		if l != nil {
			l.Unlock()
		}
		t.Fatalf("lockAppliance = %v, want context.Canceled", err)
	}
	other := flock.New(lockPath(db))
	if ok, err := other.TryLock(); !ok || err != nil {
		t.Fatalf("the lock is still held after a canceled lockAppliance: %v %v", ok, err)
	}
	other.Unlock()
}

func TestFindAppliance(t *testing.T) {
	t.Run("directory missing", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "missing", "w.duckdb")
		info, l, err := findAppliance(shortCtx(t, 5*time.Second), db)
		if !errors.Is(err, errNoAppliance) || l != nil || info != (runtimeInfo{}) {
			t.Fatalf("findAppliance = %+v, %v, %v; want errNoAppliance without a lock", info, l, err)
		}
		if _, err := os.Stat(filepath.Dir(db)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("findAppliance created the directory: %v", err)
		}
	})

	t.Run("nothing running: a shared lock for the caller", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "w.duckdb")
		_, l, err := findAppliance(shortCtx(t, 5*time.Second), db)
		if !errors.Is(err, errNoAppliance) || l == nil {
			t.Fatalf("findAppliance = %v, %v; want errNoAppliance with a lock", l, err)
		}
		// Another reader may share it; an appliance may not start meanwhile.
		_, l2, err := findAppliance(shortCtx(t, 5*time.Second), db)
		if !errors.Is(err, errNoAppliance) || l2 == nil {
			t.Fatalf("second reader: %v, %v", l2, err)
		}
		if ok, _ := flock.New(lockPath(db)).TryLock(); ok {
			t.Fatal("an appliance could lock the file while readers hold it")
		}
		l.Unlock()
		l2.Unlock()
		w := flock.New(lockPath(db))
		if ok, err := w.TryLock(); !ok || err != nil {
			t.Fatalf("the readers' locks were not released: %v %v", ok, err)
		}
		w.Unlock()
	})

	t.Run("running appliance", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "w.duckdb")
		l, err := lockAppliance(shortCtx(t, 5*time.Second), db)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Unlock()
		want := runtimeInfo{PID: 99, HTTP: "127.0.0.1:18080", Token: "tok"}
		if err := writeRuntime(db, want); err != nil {
			t.Fatal(err)
		}
		info, rl, err := findAppliance(shortCtx(t, 5*time.Second), db)
		if err != nil || rl != nil || info != want {
			t.Fatalf("findAppliance = %+v, %v, %v; want %+v", info, rl, err, want)
		}
	})

	t.Run("appliance still starting", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "w.duckdb")
		l, err := lockAppliance(shortCtx(t, 5*time.Second), db)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Unlock()
		// Neither a missing runtime file nor one without an address is an
		// answer: findAppliance waits for the real one.
		if err := os.WriteFile(runtimePath(db), []byte(`{"pid":1}`), 0o600); err != nil {
			t.Fatal(err)
		}
		want := runtimeInfo{PID: 1, HTTP: "127.0.0.1:1", Token: "t"}
		time.AfterFunc(200*time.Millisecond, func() { writeRuntime(db, want) })
		start := time.Now()
		info, _, err := findAppliance(shortCtx(t, 5*time.Second), db)
		if err != nil || info != want {
			t.Fatalf("findAppliance = %+v, %v; want %+v", info, err, want)
		}
		if time.Since(start) < 150*time.Millisecond {
			t.Error("findAppliance answered before the runtime file had an address")
		}
	})

	t.Run("held without a runtime file: the context ends the wait", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "w.duckdb")
		l, err := lockAppliance(shortCtx(t, 5*time.Second), db)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Unlock()
		if err := os.WriteFile(runtimePath(db), []byte(`not json`), 0o600); err != nil {
			t.Fatal(err)
		}
		_, rl, err := findAppliance(shortCtx(t, 200*time.Millisecond), db)
		if !errors.Is(err, context.DeadlineExceeded) || rl != nil {
			t.Fatalf("findAppliance = %v, %v; want the context's error", rl, err)
		}
	})
}

func TestRandomToken(t *testing.T) {
	seen := make(map[string]bool)
	for range 100 {
		tok := randomToken()
		if len(tok) != 32 {
			t.Fatalf("token %q has %d characters, want 32", tok, len(tok))
		}
		if _, err := hex.DecodeString(tok); err != nil {
			t.Fatalf("token %q is not hex", tok)
		}
		if seen[tok] {
			t.Fatalf("token %q drawn twice", tok)
		}
		seen[tok] = true
	}
}

func TestFileDigest(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, content, want string
		records             int64
	}{
		// XXH3-128 of the content (as xxh3.Hash128 computes it at once),
		// first 16 hex digits.
		{"empty", "", "99aa06d3014798d8", 0},
		{"abc", "abc", "06b05ab6733a6185", 1},
	}
	for _, tc := range tests {
		got, records, err := fileDigest(write(tc.name, tc.content))
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want || records != tc.records {
			t.Errorf("fileDigest(%q) = %s, %d records; want %s, %d", tc.content, got, records, tc.want, tc.records)
		}
	}
	// The name does not matter, the content does.
	a, _, _ := fileDigest(write("a.jsonl", "{}\n"))
	b, _, _ := fileDigest(write("b.jsonl", "{}\n"))
	c, n, _ := fileDigest(write("c.jsonl", "{}\n\n"))
	if a != b || a == c || n != 1 {
		t.Errorf("digests: same content %s %s, other content %s (%d records)", a, b, c, n)
	}
	if _, _, err := fileDigest(filepath.Join(dir, "missing")); err == nil {
		t.Error("fileDigest of a missing file succeeded")
	}
	// A line too large for a Kafka record fails the digest, with its
	// number and the limit.
	big := write("big.jsonl", "{}\n\n"+strings.Repeat("x", producer.MaxRecordBytes+1)+"\n{}\n")
	if _, _, err := fileDigest(big); !errors.Is(err, producer.ErrRecordTooLarge) || !strings.Contains(err.Error(), "line 3 ") ||
		!strings.Contains(err.Error(), big) || !strings.Contains(err.Error(), strconv.Itoa(producer.MaxRecordBytes)) {
		t.Errorf("fileDigest of a file with a line over the limit = %v", err)
	}
}

// TestReplayRefusesOversizedLine: a replay of a file with a line too large
// for a Kafka record fails before anything is produced or loaded (the
// warehouse is not even created), naming the line and the limit.
func TestReplayRefusesOversizedLine(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "e.jsonl")
	content := `{"user_id":"u1"}` + "\n \n" + strings.Repeat("x", producer.MaxRecordBytes+1) + "\n"
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Warehouse = "duckdb://" + filepath.Join(dir, "w", "w.duckdb")
	_, err := Replay(shortCtx(t, 10*time.Second), cfg, file, slog.New(slog.DiscardHandler))
	if !errors.Is(err, producer.ErrRecordTooLarge) || !strings.Contains(err.Error(), "line 3 ") {
		t.Fatalf("Replay = %v, want line 3 too large", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "w")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the warehouse directory exists: %v", err)
	}
}

// TestRuntimeFileRoundTrip: what writeRuntime stores is what findAppliance
// and the JSON of runtimeInfo read back, token included.
func TestRuntimeFileRoundTrip(t *testing.T) {
	db := filepath.Join(t.TempDir(), "w.duckdb")
	in := runtimeInfo{PID: os.Getpid(), HTTP: "[::1]:8080", Token: strings.Repeat("ab", 16)}
	if err := writeRuntime(db, in); err != nil {
		t.Fatal(err)
	}
	var out runtimeInfo
	b, _ := os.ReadFile(runtimePath(db))
	if err := json.Unmarshal(b, &out); err != nil || out != in {
		t.Fatalf("read back %+v, %v; want %+v", out, err, in)
	}
}
