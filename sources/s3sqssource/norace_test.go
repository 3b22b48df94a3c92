//go:build !race

package s3sqssource

const raceEnabled = false
