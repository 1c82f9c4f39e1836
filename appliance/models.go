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
	"time"

	"github.com/cartwheel-analytics/cartwheel"
	"github.com/cartwheel-analytics/cartwheel/models"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// ModelsRequest is a `cartwheel models` invocation.
type ModelsRequest struct {
	Command     string   `json:"command"` // run, test or build
	Select      []string `json:"select,omitempty"`
	Exclude     []string `json:"exclude,omitempty"`
	FullRefresh bool     `json:"full_refresh,omitempty"`
	Vars        string   `json:"vars,omitempty"`
	Threads     int      `json:"threads,omitempty"`
}

// ModelsResponse is the answer of a running appliance to a ModelsRequest.
type ModelsResponse struct {
	Output string `json:"output"`
	Failed bool   `json:"failed"`
	Error  string `json:"error,omitempty"`
}

// ProjectFS returns the project directory, or the built-in project.
func ProjectFS(dir string) fs.FS {
	if dir == "" {
		return cartwheel.Project
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
	return opts, nil
}

// RunModels runs models run|test|build on db, writing dbt-like lines to out.
// The error wraps models.ErrFailed when a node failed.
func RunModels(ctx context.Context, db models.DB, p *models.Project, req ModelsRequest, out io.Writer) error {
	opts, err := req.options(out)
	if err != nil {
		return err
	}
	switch req.Command {
	case "run":
		_, err = models.Run(ctx, db, p, opts...)
	case "test":
		_, err = models.Test(ctx, db, p, opts...)
	case "build":
		_, err = models.Build(ctx, db, p, opts...)
	default:
		return fmt.Errorf("unknown models command %q (want run, test or build)", req.Command)
	}
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
	body, _ := json.Marshal(req)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+info.HTTP+"/api/models", bytes.NewReader(body))
	if err != nil {
		return err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Authorization", "Bearer "+info.Token)
	resp, err := (&http.Client{Timeout: time.Hour}).Do(hr)
	if err != nil {
		return fmt.Errorf("ask the running appliance at %s: %w", info.HTTP, err)
	}
	defer resp.Body.Close()
	var mr ModelsResponse
	if err := json.NewDecoder(resp.Body).Decode(&mr); err != nil {
		return fmt.Errorf("appliance at %s answered %s", info.HTTP, resp.Status)
	}
	io.WriteString(out, mr.Output)
	if mr.Error != "" {
		return errors.New(mr.Error)
	}
	if mr.Failed {
		return models.ErrFailed
	}
	return nil
}

// modelsHandler serves POST /api/models for a running appliance.
func modelsHandler(db models.DB, p *models.Project) func(ctx context.Context, body io.Reader) (any, int) {
	return func(ctx context.Context, body io.Reader) (any, int) {
		var req ModelsRequest
		if err := json.NewDecoder(io.LimitReader(body, 1<<20)).Decode(&req); err != nil {
			return ModelsResponse{Error: "bad request: " + err.Error()}, http.StatusBadRequest
		}
		var out bytes.Buffer
		err := RunModels(ctx, db, p, req, &out)
		resp := ModelsResponse{Output: out.String()}
		if errors.Is(err, models.ErrFailed) {
			resp.Failed = true
		} else if err != nil {
			resp.Error = err.Error()
		}
		return resp, http.StatusOK
	}
}
