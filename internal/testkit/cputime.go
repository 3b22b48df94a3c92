//go:build unix

package testkit

import (
	"syscall"
	"time"
)

// CPUTime returns the CPU time (user + system) the process has used so
// far, or 0 when the system does not say. Benchmarks report records per
// CPU second next to records per wall second: on a shared machine the
// wall-clock rate depends on what else runs, the CPU rate much less. The
// figure covers every goroutine of the process, so whatever a benchmark
// runs in process besides the code it measures (a broker, an HTTP intake)
// is counted too unless it is moved out.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
