// Package generator produces a deterministic, realistic e-commerce clickstream
// (page views, add-to-carts and purchases of simulated shoppers) as JSON
// records, optionally sprinkled with out-of-order, late, duplicate and
// malformed records.
package generator
