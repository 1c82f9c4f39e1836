// Package apitest holds test doubles for the HTTP API and its clients.
package apitest

import (
	"context"
	"slices"
	"sync"

	"github.com/cartwheel-analytics/cartwheel/result"
)

// Querier is an api.Querier that records the queries it gets and answers
// every one with Result or Err. Set them before the first query, or
// change them with Answer.
type Querier struct {
	Result *result.Set
	Err    error

	mu      sync.Mutex
	queries []string
}

// QueryReadOnly records query and answers.
func (q *Querier) QueryReadOnly(_ context.Context, query string, _ ...any) (*result.Set, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.queries = append(q.queries, query)
	return q.Result, q.Err
}

// Answer sets the answer to the next queries and forgets the queries seen.
func (q *Querier) Answer(res *result.Set, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.Result, q.Err, q.queries = res, err, nil
}

// Queries returns the queries seen, oldest first.
func (q *Querier) Queries() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.queries)
}
