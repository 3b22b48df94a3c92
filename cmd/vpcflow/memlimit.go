package main

import (
	"errors"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"strings"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// setMemoryLimit gives the Go runtime a soft memory limit of 90 % of the
// container's memory limit (cgroup v1 or v2), unless GOMEMLIMIT is set or
// AUTOMEMLIMIT=off (AUTOMEMLIMIT=0.8 picks another share). Without one the
// heap grows to about twice the live data before a collection, and a large
// backlog (fetch buffers, batches in flight) can take a container past its
// limit and get it killed; with one the collector works harder instead.
// It logs the limit in force.
func setMemoryLimit(log *slog.Logger) { setMemoryLimitFrom(log, memlimit.FromCgroup) }

// setMemoryLimitFrom is setMemoryLimit with the container's limit read by
// provider: memlimit.FromCgroup in the service, a reader of a cgroup tree
// made up in a temporary directory in tests.
func setMemoryLimitFrom(log *slog.Logger, provider memlimit.Provider) {
	if v, ok := os.LookupEnv("AUTOMEMLIMIT"); ok && strings.TrimSpace(v) == "" {
		os.Unsetenv("AUTOMEMLIMIT") // empty (e.g. a template's unset value): the default
	}
	limit, err := memlimit.SetGoMemLimitWithOpts(
		memlimit.WithProvider(provider),
		memlimit.WithLogger(slog.New(slog.DiscardHandler)))
	switch {
	case err != nil && !errors.Is(err, memlimit.ErrNoCgroup):
		log.Warn("no memory limit set for the Go runtime", "error", err)
	case limit > 0:
		log.Info("memory limit set from the container's", "go_memory_limit_bytes", limit)
	default: // GOMEMLIMIT, AUTOMEMLIMIT=off, or no limit to follow
		if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
			log.Info("memory limit", "go_memory_limit_bytes", l)
		}
	}
}
