//go:build !race

package eni

const raceEnabled = false
