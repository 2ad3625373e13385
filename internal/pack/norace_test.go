//go:build !race

package pack

// raceEnabled reports a -race build, whose memory use is not representative.
const raceEnabled = false
