package warehouse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/cartwheel-analytics/cartwheel/event"
)

// The messages are those DuckDB 1.5 gave on a full tmpfs.
func TestDuckFault(t *testing.T) {
	walFull := &duckdb.Error{Type: duckdb.ErrorTypeTransaction,
		Msg: `TransactionContext Error: Failed to commit: Could not write file "/d/w.duckdb.wal": No space left on device`}
	ckptFull := &duckdb.Error{Type: duckdb.ErrorTypeFatal,
		Msg: `FATAL Error: Failed to create checkpoint because of error: Could not write file "/d/w.duckdb": No space left on device`}
	invalidated := &duckdb.Error{Type: duckdb.ErrorTypeFatal,
		Msg: "FATAL Error: Failed: database has been invalidated because of a previous fatal error. The database must be restarted prior to being used again.\nOriginal error: \"Failed to create checkpoint\""}
	for _, tc := range []struct {
		name             string
		err              error
		transient, fatal bool
	}{
		{"wal write", walFull, true, false},
		{"wal write, wrapped", fmt.Errorf("load events: %w", errors.Join(walFull, io.EOF)), true, false},
		{"quota", &duckdb.Error{Type: duckdb.ErrorTypeIO, Msg: `IO Error: Could not write file "x": Disk quota exceeded`}, true, false},
		{"checkpoint", ckptFull, true, true},
		{"invalidated", fmt.Errorf("update checkpoint: %w", invalidated), true, true},
		{"constraint", &duckdb.Error{Type: duckdb.ErrorTypeConstraint, Msg: "Constraint Error: duplicate key"}, false, false},
		// A user's query cannot forge a fatal error by its text.
		{"parser", &duckdb.Error{Type: duckdb.ErrorTypeParser, Msg: `Parser Error: syntax error at or near "FATAL Error: database has been invalidated"`}, false, false},
		{"not duckdb", errors.New("No space left on device"), false, false},
	} {
		transient, fatal := duckFault(tc.err)
		if transient != tc.transient || fatal != tc.fatal {
			t.Errorf("%s: transient %v fatal %v, want %v %v", tc.name, transient, fatal, tc.transient, tc.fatal)
		}
	}
}

// smallDisk mounts a tmpfs of size (e.g. "16m") and returns its directory;
// it skips (fails under CI=true) where mounting is not allowed.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		msg := fmt.Sprintf("a full-disk test needs to mount a small tmpfs (root): %v %s", err, strings.TrimSpace(string(out)))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

// fill writes a file of mb MiB into dir and returns its path.
func fill(t *testing.T, dir string, mb int) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for range mb {
		if _, err := f.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// TestDuckDBFullDisk fills the disk under a DuckDB warehouse until a commit
// fails, frees it, and retries as the pipeline does: the failure must be
// transient, the retry must land the batch exactly once — also when DuckDB
// invalidated the database (a failed checkpoint) and the adapter reopened
// it — and the files must replay to the same state after a crash.
func TestDuckDBFullDisk(t *testing.T) {
	for _, tc := range []struct {
		name       string
		size       string
		fillMB     int
		opts       []Option
		wantFatal  bool
		wantSubstr string
	}{
		// 3 MiB free: the WAL write of a commit fails.
		{name: "wal", size: "16m", fillMB: 13, wantSubstr: "Failed to commit"},
		// 20 MiB free and a 16 MB checkpoint threshold: the WAL fits, the
		// checkpoint after it does not.
		{name: "checkpoint", size: "40m", fillMB: 20, opts: []Option{BulkLoad()}, wantFatal: true, wantSubstr: "checkpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := smallDisk(t, tc.size)
			ctx := context.Background()
			dsn := "duckdb://" + filepath.Join(dir, "w.duckdb")
			db, err := Open(ctx, dsn, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			id, err := db.Stream(ctx, "full-disk")
			if err != nil {
				t.Fatal(err)
			}
			filler := fill(t, dir, tc.fillMB)

			const per = 5000
			next := int64(0)
			batch := func() *event.Batch {
				b := &event.Batch{Stream: id, IngestedAt: 1}
				for i := range per {
					off := next + int64(i)
					b.Events = append(b.Events, event.Event{EventID: fmt.Sprintf("e-%d-%08x", off, off*2654435761),
						UserID: fmt.Sprintf("user-%d", off%997), Time: 1_790_000_000_000_000 + off, Type: event.PageView,
						Quantity: 1, Offset: off})
				}
				b.Checkpoints = []event.Checkpoint{{PrevOffset: next, NextOffset: next + per,
					MaxEventTime: event.NoTime, OpenFrom: event.NoTime}}
				if next == 0 {
					b.Checkpoints[0].PrevOffset = -1
				}
				return b
			}
			var failed *event.Batch
			var failure error
			for range 400 {
				b := batch()
				if err := db.Commit(ctx, b); err != nil {
					failed, failure = b, err
					break
				}
				next += per
			}
			if failed == nil {
				t.Fatal("the disk never filled")
			}
			if !event.IsTransient(failure) || !strings.Contains(failure.Error(), "No space left on device") ||
				!strings.Contains(failure.Error(), tc.wantSubstr) {
				t.Fatalf("commit on a full disk: %v (transient %v), want a transient %q failure", failure, event.IsTransient(failure), tc.wantSubstr)
			}
			if _, fatal := duckFault(failure); fatal != tc.wantFatal {
				t.Fatalf("fatal %v, want %v: %v", fatal, tc.wantFatal, failure)
			}
			// Still full: the retry fails the same way, transiently (after
			// an invalidation, the reopen's own checkpoint fails).
			if err := db.Commit(ctx, failed); !event.IsTransient(err) {
				t.Fatalf("retry on a full disk: %v, want transient", err)
			}
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			// As the pipeline's commitWithRetry: a retry that is fenced
			// after an uncertain failure landed if the checkpoint says so.
			if err := db.Commit(ctx, failed); err != nil {
				if !event.IsFenced(err) {
					t.Fatalf("retry after freeing the disk: %v", err)
				}
				t.Log("the failed commit had landed (fenced retry)")
			}
			next += per
			if err := db.Commit(ctx, batch()); err != nil {
				t.Fatalf("commit after the retry: %v", err)
			}
			next += per
			check := func(db *DB, what string) {
				t.Helper()
				r, err := db.Query(ctx, `SELECT count(*), count(DISTINCT kafka_offset), max(kafka_offset),
					(SELECT next_offset FROM stream_checkpoints) FROM events`)
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				if got, want := fmt.Sprint(r.Rows[0]), fmt.Sprint([]any{next, next, next - 1, next}); got != want {
					t.Fatalf("%s: events count, distinct offsets, max offset, checkpoint = %s, want %s", what, got, want)
				}
			}
			check(db, "after the retry")

			// A crash now: copy the file and its WAL as they are, open the
			// copy.
			crash := t.TempDir()
			if out, err := exec.Command("sh", "-c", "cp "+dir+"/w.duckdb* "+crash+"/").CombinedOutput(); err != nil {
				t.Fatalf("copy: %v %s", err, out)
			}
			cdb, err := Open(ctx, "duckdb://"+filepath.Join(crash, "w.duckdb"))
			if err != nil {
				t.Fatal(err)
			}
			defer cdb.Close()
			check(cdb, "after a crash")
		})
	}
}
