//go:build race

package s3sqssource

// raceEnabled: the race detector slows line splitting ~10×.
const raceEnabled = true
