package appliance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"

	"github.com/cartwheel-analytics/cartwheel/api"
	"github.com/cartwheel-analytics/cartwheel/models"
	"github.com/cartwheel-analytics/cartwheel/project"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// ModelsRequest is a `cartwheel models` invocation. Through a running
// appliance it travels as an api.ModelsRequest.
type ModelsRequest struct {
	Command     string // run, test or build
	Select      []string
	Exclude     []string
	FullRefresh bool
	Vars        string // a YAML mapping
	Threads     int
	// Progress, when set, is told how many nodes are done of how many
	// (models.WithProgress). It is not sent: through a running appliance
	// the command reports no progress.
	Progress func(done, total int)
}

// wire is r as the API carries it.
func (r ModelsRequest) wire() api.ModelsRequest {
	return api.ModelsRequest{Command: r.Command, Select: r.Select, Exclude: r.Exclude, FullRefresh: r.FullRefresh,
		Vars: r.Vars, Threads: r.Threads}
}

// modelsRequest is the request that w carries.
func modelsRequest(w api.ModelsRequest) ModelsRequest {
	return ModelsRequest{Command: w.Command, Select: w.Select, Exclude: w.Exclude, FullRefresh: w.FullRefresh,
		Vars: w.Vars, Threads: w.Threads}
}

// ProjectFS returns the project directory, or the built-in project.
func ProjectFS(dir string) fs.FS {
	if dir == "" {
		return project.FS
	}
	return os.DirFS(dir)
}

// LoadProject loads the project of cfg.
func LoadProject(cfg Config) (*models.Project, error) {
	p, err := models.Load(ProjectFS(cfg.Project))
	if err != nil {
		where := "the built-in project"
		if cfg.Project != "" {
			where = cfg.Project
		}
		return nil, fmt.Errorf("load %s: %w", where, err)
	}
	return p, nil
}

// ModelOptions turns a request into runner options.
func (r ModelsRequest) options(out io.Writer) ([]models.Option, error) {
	opts := []models.Option{models.WithOutput(out), models.WithSelect(r.Select...), models.WithExclude(r.Exclude...),
		models.WithFullRefresh(r.FullRefresh)}
	if r.Vars != "" {
		vars, err := models.ParseVars(r.Vars)
		if err != nil {
			return nil, err
		}
		opts = append(opts, models.WithVars(vars))
	}
	if r.Threads > 0 {
		opts = append(opts, models.WithThreads(r.Threads))
	}
	if r.Progress != nil {
		opts = append(opts, models.WithProgress(r.Progress))
	}
	return opts, nil
}

// modelsCommand is models.Run, Test or Build.
type modelsCommand func(context.Context, models.DB, *models.Project, ...models.Option) (*models.Report, error)

var modelsCommands = map[string]modelsCommand{"run": models.Run, "test": models.Test, "build": models.Build}

// prepare returns the command of r and its runner options, or why r is not
// a request that can run (nothing ran then).
func (r ModelsRequest) prepare(out io.Writer) (modelsCommand, []models.Option, error) {
	run, ok := modelsCommands[r.Command]
	if !ok {
		return nil, nil, fmt.Errorf("unknown models command %q (want run, test or build)", r.Command)
	}
	opts, err := r.options(out)
	if err != nil {
		return nil, nil, err
	}
	return run, opts, nil
}

// RunModels runs models run|test|build on db, writing dbt-like lines to out.
// The error wraps models.ErrFailed when a node failed.
func RunModels(ctx context.Context, db models.DB, p *models.Project, req ModelsRequest, out io.Writer) error {
	run, opts, err := req.prepare(out)
	if err != nil {
		return err
	}
	_, err = run(ctx, db, p, opts...)
	return err
}

// Models runs a models command against the configured warehouse — through
// the running appliance when it holds the DuckDB file.
func Models(ctx context.Context, cfg Config, req ModelsRequest, out io.Writer) error {
	p, err := LoadProject(cfg)
	if err != nil {
		return err
	}
	if path := DuckDBPath(cfg.Warehouse); path != "" {
		info, lock, err := findAppliance(ctx, path)
		switch {
		case err == nil:
			if cfg.Project != "" {
				return errors.New("a running appliance builds its own project: stop it to build --project " + cfg.Project)
			}
			return modelsHTTP(ctx, info, req, out)
		case !errors.Is(err, errNoAppliance):
			return err
		}
		if lock != nil {
			lock.Unlock() // we write: the file lock of DuckDB itself protects us
		}
	}
	db, err := warehouse.Open(ctx, cfg.Warehouse)
	if err != nil {
		return err
	}
	defer db.Close()
	return RunModels(ctx, db, p, req, out)
}

func modelsHTTP(ctx context.Context, info runtimeInfo, req ModelsRequest, out io.Writer) error {
	resp, err := applianceClient(info).Models(ctx, req.wire())
	io.WriteString(out, resp.Output)
	switch {
	case err != nil:
		return err
	case resp.Error != "": // an appliance of an earlier version: 200 with an error
		return errors.New(resp.Error)
	case resp.Failed:
		return models.ErrFailed
	}
	return nil
}

// modelsHandler serves POST /api/models (api.ModelsRequest documents it)
// for a running appliance: 400 for a request that cannot run, 500 when
// the run broke off, 200 when it ran, with "failed" if a node failed.
func modelsHandler(db models.DB, p *models.Project) api.Action {
	return func(ctx context.Context, body io.Reader) (any, int) {
		var w api.ModelsRequest
		dec := json.NewDecoder(body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&w); err != nil {
			status := http.StatusBadRequest
			if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
				status = http.StatusRequestEntityTooLarge
			}
			return api.ModelsResponse{Error: "bad request: " + err.Error()}, status
		}
		var out bytes.Buffer
		run, opts, err := modelsRequest(w).prepare(&out)
		if err == nil { // the selectors, at no cost: the runner would fail on them with a 500
			_, err = models.List(p, models.WithSelect(w.Select...), models.WithExclude(w.Exclude...), models.WithOutput(io.Discard))
		}
		if err != nil {
			return api.ModelsResponse{Error: err.Error()}, http.StatusBadRequest
		}
		_, err = run(ctx, db, p, opts...)
		resp := api.ModelsResponse{Output: out.String()}
		switch {
		case errors.Is(err, models.ErrFailed):
			resp.Failed = true
		case err != nil:
			resp.Error = err.Error()
			return resp, http.StatusInternalServerError
		}
		return resp, http.StatusOK
	}
}
