//go:build race

package main

// raceEnabled builds the demoapp binary under test with -race too, so the
// race detector also watches the real process.
const raceEnabled = true
