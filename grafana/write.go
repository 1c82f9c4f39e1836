package grafana

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrExists is the error of Write over a file that differs from the one
// it would write, without force.
var ErrExists = errors.New("exists with other content")

// Write writes files under dir, creating the folders. A file that already
// holds the same bytes is left alone; one that differs is an error
// wrapping ErrExists (naming every such file, writing none) unless force.
// Each file is written to a temporary name and renamed, so Grafana, which
// rereads its provisioning, never sees half a file.
func Write(dir string, files []File, force bool) (written []string, err error) {
	if dir == "" {
		return nil, errors.New("no output folder")
	}
	var differ []string
	for _, f := range files {
		path := filepath.Join(dir, filepath.FromSlash(f.Path))
		old, err := os.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, err
		case !bytes.Equal(old, f.Data) && !force:
			differ = append(differ, path)
		}
	}
	if len(differ) > 0 {
		return nil, fmt.Errorf("%s %w (--force overwrites)", strings.Join(differ, ", "), ErrExists)
	}
	for _, f := range files {
		path := filepath.Join(dir, filepath.FromSlash(f.Path))
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, f.Data) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return written, err
		}
		tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
		if err != nil {
			return written, err
		}
		_, werr := tmp.Write(f.Data)
		cerr := tmp.Close()
		if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), 0o644)); err != nil {
			os.Remove(tmp.Name())
			return written, err
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			os.Remove(tmp.Name())
			return written, err
		}
		written = append(written, path)
	}
	return written, nil
}
