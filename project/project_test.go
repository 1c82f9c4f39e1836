package project

import (
	"io/fs"
	"os"
	"path"
	"slices"
	"testing"
)

// files lists the regular files of fsys, leaving out Go files.
func files(t *testing.T, fsys fs.FS) []string {
	t.Helper()
	var out []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && path.Ext(p) != ".go" {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFSHoldsEveryFile: every file of the project directory is embedded,
// and nothing else.
func TestFSHoldsEveryFile(t *testing.T) {
	want, got := files(t, os.DirFS(".")), files(t, FS)
	if !slices.Equal(got, want) {
		t.Errorf("embedded files %q, want those of the directory %q", got, want)
	}
	if !slices.Contains(got, "dbt_project.yml") {
		t.Errorf("no dbt_project.yml at the root: %q", got)
	}
}
