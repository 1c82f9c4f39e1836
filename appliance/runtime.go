package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"
)

// A running appliance that holds a DuckDB file announces itself next to
// it: it holds an exclusive lock on PATH.appliance.lock for its whole life
// (released by the kernel even on SIGKILL) and writes PATH.appliance.json
// with its HTTP address and token. Readers that find the lock held ask the
// appliance; readers that can take it open the file themselves.

type runtimeInfo struct {
	PID   int    `json:"pid"`
	HTTP  string `json:"http"`
	Token string `json:"token"`
}

func runtimePath(dbPath string) string { return dbPath + ".appliance.json" }
func lockPath(dbPath string) string    { return dbPath + ".appliance.lock" }

// lockAppliance takes the appliance lock of a DuckDB file, waiting a little
// for short-lived readers. When ctx ends first it returns ctx's error and
// holds no lock, even if ctx ended just as the lock was taken.
func lockAppliance(ctx context.Context, dbPath string) (*flock.Flock, error) {
	if dbPath == "" {
		return nil, errors.New("no DuckDB file to lock")
	}
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o755); err != nil {
		return nil, err
	}
	l := flock.New(lockPath(dbPath))
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ok, err := l.TryLockContext(wait, 50*time.Millisecond)
	if cerr := ctx.Err(); cerr != nil {
		if ok {
			l.Unlock()
		}
		return nil, cerr
	}
	if err != nil || !ok {
		return nil, fmt.Errorf("%s is in use by another cartwheel process (stop it first)", dbPath)
	}
	return l, nil
}

func writeRuntime(dbPath string, info runtimeInfo) error {
	b, _ := json.Marshal(info)
	tmp := runtimePath(dbPath) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, runtimePath(dbPath))
}

var errNoAppliance = errors.New("no running appliance")

// findAppliance returns the running appliance of a DuckDB file. When none
// runs it returns errNoAppliance together with a shared lock the caller
// holds while it opens the file itself.
func findAppliance(ctx context.Context, dbPath string) (runtimeInfo, *flock.Flock, error) {
	l := flock.New(lockPath(dbPath))
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(filepath.Dir(dbPath)); err != nil {
			return runtimeInfo{}, nil, errNoAppliance
		}
		ok, err := l.TryRLock()
		if err == nil && ok {
			return runtimeInfo{}, l, errNoAppliance
		}
		// An appliance holds the file: it may still be starting.
		if b, err := os.ReadFile(runtimePath(dbPath)); err == nil {
			var info runtimeInfo
			if json.Unmarshal(b, &info) == nil && info.HTTP != "" {
				return info, nil, nil
			}
		}
		if time.Now().After(deadline) {
			return runtimeInfo{}, nil, fmt.Errorf("%s is held by a cartwheel process that does not answer", dbPath)
		}
		select {
		case <-ctx.Done():
			return runtimeInfo{}, nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
