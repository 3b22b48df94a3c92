//go:build race

package eni

// raceEnabled says the tests run under the race detector (slow, and with
// memory figures of their own).
const raceEnabled = true
