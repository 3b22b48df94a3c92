//go:build !unix

package testkit

import "time"

// CPUTime returns 0: this system has no getrusage.
func CPUTime() time.Duration { return 0 }
