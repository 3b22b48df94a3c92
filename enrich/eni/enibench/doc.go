// Package enibench holds the end-to-end benchmark of the eni_enrich stage
// behind the flow-log parser (processor/parse): 1M records over 10k
// interfaces with a warm cache. It has no code of its own; see
// bench_test.go.
package enibench
