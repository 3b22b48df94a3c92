// Package linelimit holds the bounds of the sources' max_line_bytes key, so
// that the key means the same in every source.
package linelimit

import (
	"fmt"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// Min is the smallest max_line_bytes: a flow-log line is longer than
// 64 bytes, so a smaller limit would reject every line.
const Min = 64

// Max is the largest max_line_bytes (and its default): the longest line a
// record holds.
const Max = flowlog.MaxLineLen

// Check returns an error naming max_line_bytes when n is out of bounds.
func Check(n int) error {
	if n < Min || n > Max {
		return fmt.Errorf("max_line_bytes must be between %d and %d, got %d", Min, Max, n)
	}
	return nil
}
