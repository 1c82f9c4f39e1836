package warehouse

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/cartwheel-analytics/cartwheel/event"
)

// How DuckDB (1.5) fails on a full disk, found on a small tmpfs:
//
//   - a commit whose WAL write fails returns "TransactionContext Error:
//     Failed to commit: Could not write file …wal: No space left on
//     device"; the transaction is rolled back, the WAL cut back to where it
//     was, and the database stays usable: once there is space, the same
//     batch commits, and a crash afterwards replays every commit;
//   - a checkpoint that cannot grow the database file (the automatic one a
//     commit runs once the WAL passes checkpoint_threshold, or the one on
//     open) is a "FATAL Error: Failed to create checkpoint …: No space left
//     on device": DuckDB invalidates the database, every later statement
//     fails with "database has been invalidated because of a previous fatal
//     error", and only reopening the file helps. The file's header still
//     names the last good checkpoint and the WAL holds every commit since,
//     so a reopen — WAL replay — finds exactly the committed batches: the
//     one that was committing may or may not be among them, which the
//     pipeline settles by its checkpoint row (a retry that finds its
//     checkpoint already there is fenced, and the batch counts as landed).

// duckFault classifies a DuckDB error: transient when it is worth retrying
// — the disk or quota is full, or the database was invalidated and will be
// reopened —, fatal when DuckDB invalidated the database.
func duckFault(err error) (transient, fatal bool) {
	var de *duckdb.Error
	if !errors.As(err, &de) {
		return false, false
	}
	fatal = de.Type == duckdb.ErrorTypeFatal
	full := strings.Contains(de.Msg, "No space left on device") || strings.Contains(de.Msg, "Disk quota exceeded")
	return fatal || full, fatal
}

// classify marks err, from a statement on db, as transient when duckFault
// says so, and notes an invalidated database for handle to reopen.
func (d *duckDB) classify(db *sql.DB, err error) error {
	if err == nil {
		return nil
	}
	transient, fatal := duckFault(err)
	if fatal && d.reopen == nil {
		transient = false // in memory: nothing to reopen
	} else if fatal {
		d.mu.Lock()
		// Only the current handle: a late error from one already
		// replaced must not send a fresh one to be reopened.
		if d.db == db && d.broken == nil {
			d.broken = err
		}
		d.mu.Unlock()
	} else if !transient && strings.Contains(err.Error(), "sql: database is closed") {
		d.mu.Lock()
		replaced := d.db != db && d.reopen != nil
		d.mu.Unlock()
		// The statement raced a reopen: its handle was closed under it.
		transient = replaced
	}
	if transient {
		return event.Transient(err)
	}
	return err
}

// reopenIdleWait bounds how long a reopen waits for the statements still
// running on the invalidated database.
const reopenIdleWait = 30 * time.Second

// handle returns the database, first reopening it when DuckDB invalidated
// it. A reopen that fails (the disk is still full: the checkpoint of the
// reopen fails the same way) is tried again by the next call.
func (d *duckDB) handle(ctx context.Context) (*sql.DB, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.broken == nil {
		if d.db == nil {
			return nil, errors.New("warehouse is closed")
		}
		return d.db, nil
	}
	if d.db != nil {
		// The old instance must be gone before the file is opened again:
		// two instances of one file in a process would both write it, and
		// DuckDB's lock is a POSIX record lock, which closing the old
		// instance's file would drop from under the new one. Statements
		// on an invalidated database fail at once, so its connections come
		// back quickly.
		deadline := time.Now().Add(reopenIdleWait)
		for d.db.Stats().InUse > 0 {
			if time.Now().After(deadline) || ctx.Err() != nil {
				return nil, event.Transient(fmt.Errorf("reopen DuckDB after %v: connections still in use", d.broken))
			}
			time.Sleep(10 * time.Millisecond)
		}
		d.db.Close()
		d.db = nil
	}
	db, err := d.reopen(ctx)
	if err != nil {
		// The reopen's own failure decides: a full disk again is
		// transient, a corrupt file is not.
		if t, _ := duckFault(err); t {
			err = event.Transient(err)
		}
		return nil, fmt.Errorf("reopen DuckDB after %v: %w", d.broken, err)
	}
	d.db, d.broken = db, nil
	return db, nil
}
