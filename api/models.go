package api

// ModelsRequest is the body of POST /api/models, which runs a models
// command of `cartwheel models` inside the running appliance (which holds
// the warehouse) over its project:
//
//	{
//	  "command": "build",                  // required: "run", "test" or "build"
//	  "select": ["+fct_daily_revenue"],     // optional selectors (-s), as on the command line
//	  "exclude": ["tag:slow"],              // optional (--exclude)
//	  "full_refresh": false,                // optional (--full-refresh)
//	  "vars": "{snapshot_at: null}",        // optional YAML mapping (--vars)
//	  "threads": 4                          // optional, > 0 (--threads); 0 or absent: the default
//	}
//
// The answer is a ModelsResponse: 200 when the command ran (with "failed"
// true if a node failed or a test did not pass); 400 with "error", before
// anything runs, for a request that is not one of the above (not JSON, an
// unknown field, an unknown command, vars that are not a YAML mapping, an
// invalid selector); 500 with "error" and the output so far when the run
// itself broke off (say, the warehouse went away).
type ModelsRequest struct {
	Command     string   `json:"command"`
	Select      []string `json:"select,omitempty"`
	Exclude     []string `json:"exclude,omitempty"`
	FullRefresh bool     `json:"full_refresh,omitempty"`
	Vars        string   `json:"vars,omitempty"`
	Threads     int      `json:"threads,omitempty"`
}

// ModelsResponse is the answer to POST /api/models.
type ModelsResponse struct {
	// Output holds dbt-like lines, one per node, as `cartwheel models`
	// prints them.
	Output string `json:"output"`
	// Failed is true when a node ended in error or a test failed.
	Failed bool `json:"failed"`
	// Error says why the command did not run, or broke off.
	Error string `json:"error,omitempty"`
}
