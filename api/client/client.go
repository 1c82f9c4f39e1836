// Package client is a typed client of the HTTP API of a running Cartwheel
// appliance (package api): read-only queries, model runs and, as they come,
// the DAG and panel calls.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/cartwheel-analytics/cartwheel/api"
	"github.com/cartwheel-analytics/cartwheel/result"
)

// Time limits of the calls, on top of the context's: a query answers in
// seconds or minutes, a model build can take long.
const (
	QueryTimeout  = 5 * time.Minute
	ModelsTimeout = time.Hour
)

// maxErrorBody bounds how much of a failed answer is read for its message.
const maxErrorBody = 64 << 10

// Client calls the API of one appliance. It is safe for concurrent use.
type Client struct {
	base  string // scheme://host:port, no trailing slash
	token string
	hc    *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithToken sends token as "Authorization: Bearer <token>" on every call
// (the API needs it on POSTs when it is not bound to loopback).
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithHTTPClient sets the HTTP client (default: http.DefaultClient's
// transport, with the calls' own time limits).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// New returns a client of the appliance at addr: a base URL
// ("http://127.0.0.1:8080") or a bare host:port, taken as http.
func New(addr string, opts ...Option) *Client {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	c := &Client{base: strings.TrimRight(addr, "/"), hc: &http.Client{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Error is an answer of the API other than success.
type Error struct {
	// StatusCode and Status are the HTTP status, e.g. 401 and
	// "401 Unauthorized".
	StatusCode int
	Status     string
	// Message is the server's error text ("error" of the JSON body); empty
	// when the body carried none (say, a proxy's error page).
	Message string
	// URL is what was called.
	URL string
}

// Error returns the server's message as it is — the appliance words it for
// the user — or, without one, the status.
func (e *Error) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return fmt.Sprintf("appliance at %s answered %s", e.URL, e.Status)
}

// Unwrap makes a refused write match result.ErrReadOnly.
func (e *Error) Unwrap() error {
	if e.StatusCode == http.StatusForbidden && e.Message == result.ErrReadOnly.Error() {
		return result.ErrReadOnly
	}
	return nil
}

// Query runs one read-only SQL statement (POST /api/query) and returns its
// result with exact value types (int64s, decimals, UTC times). A statement
// that may write fails with an error matching result.ErrReadOnly.
func (c *Client) Query(ctx context.Context, sql string) (*result.Set, error) {
	ctx, cancel := context.WithTimeout(ctx, QueryTimeout)
	defer cancel()
	resp, err := c.post(ctx, "/api/query", api.QueryRequest{SQL: sql})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, c.failure(resp, nil)
	}
	res, err := result.Decode(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("appliance at %s: %w", resp.Request.URL, err)
	}
	return res, nil
}

// Models runs a models command in the appliance (POST /api/models) and
// returns its answer. A command that ran returns a nil error, with Failed
// set when a node failed; otherwise the error is an *Error, and the
// returned answer still holds any output written before the run broke off.
func (c *Client) Models(ctx context.Context, req api.ModelsRequest) (api.ModelsResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, ModelsTimeout)
	defer cancel()
	var mr api.ModelsResponse
	resp, err := c.post(ctx, "/api/models", req)
	if err != nil {
		return mr, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return mr, c.failure(resp, &mr)
	}
	if err := json.NewDecoder(resp.Body).Decode(&mr); err != nil {
		return mr, fmt.Errorf("appliance at %s: decode answer: %w", resp.Request.URL, err)
	}
	return mr, nil
}

// post sends body as JSON to path.
func (c *Client) post(ctx context.Context, path string, body any) (*http.Response, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask the running appliance at %s: %w", strings.TrimPrefix(c.base, "http://"), err)
	}
	return resp, nil
}

// failure reads an answer other than 200: its status, and the "error" of
// its body when that is JSON (api.ErrorResponse). answer, if not nil, also
// gets what else the body says (a models run's output).
func (c *Client) failure(resp *http.Response, answer any) error {
	e := &Error{StatusCode: resp.StatusCode, Status: resp.Status, URL: resp.Request.URL.String()}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var er api.ErrorResponse
	if json.Unmarshal(body, &er) == nil {
		e.Message = er.Error
		if answer != nil {
			json.Unmarshal(body, answer)
		}
	}
	return e
}
