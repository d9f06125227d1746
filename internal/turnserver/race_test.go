//go:build race

package turnserver

const raceEnabled = true
