package bench

import "time"

// The library's default intervals (options.go) and its schedule for reading
// one SSM command (command.go), restated so the model can be worked out for
// AWS's command latency, which the sandbox does not have.
const (
	DefaultPollMin   = time.Second
	DefaultPollMax   = 5 * time.Second
	DefaultFollowMax = 30 * time.Second

	commandPollFloor = 20 * time.Millisecond
	commandPollCap   = 500 * time.Millisecond
	commandPollMax   = 2 * time.Second
)

// Model is the follow loop worked out for one SSM command latency: the time
// from SendCommand until GetCommandInvocation can report the command done.
type Model struct {
	Latency      time.Duration
	Read         time.Duration // when, after SendCommand, the command reads the log
	CallsPerPoll int           // SendCommand and the GetCommandInvocation calls until done
	PollTime     time.Duration // from SendCommand to the read that sees the command done
	// QuietPerHour is the SSM calls in an hour of a quiet job at the
	// ceiling: one poll each FollowMax plus PollTime.
	QuietPerHour float64
	// FirstHour is the calls of a job quiet from its start for an hour,
	// the back-off from PollMin included.
	FirstHour float64
	// FlowMax and FlowMean bound the delay from a line being written to its
	// event while output flows: a poll starts PollMin after the last one
	// ended, reads the log at Read and delivers at PollTime, so the line
	// written just after a read waits a whole cycle and the rest of a poll.
	FlowMax, FlowMean time.Duration
	// QuietLineMax bounds the delay of a line written after a silence long
	// enough for the pause to reach FollowMax, the same way.
	QuietLineMax time.Duration
}

// ModelFollow works the library's schedule out for a command latency, the
// moment within it that the command reads the log (on AWS somewhere between
// zero and the latency; in the sandbox at once) and the given intervals,
// each API call taking no time of its own.
func ModelFollow(latency, read, pollMin, followMax time.Duration) Model {
	m := Model{Latency: latency, Read: min(read, latency)}
	gets, at := commandReads(latency, pollMin)
	m.CallsPerPoll, m.PollTime = 1+gets, at
	m.QuietPerHour = float64(time.Hour) / float64(followMax+m.PollTime) * float64(m.CallsPerPoll)
	m.FirstHour = firstHour(m, pollMin, followMax)

	cycle := pollMin + m.PollTime
	m.FlowMax = cycle + m.PollTime - m.Read
	m.FlowMean = cycle/2 + m.PollTime - m.Read
	m.QuietLineMax = followMax + 2*m.PollTime - m.Read
	return m
}

// commandReads returns how many GetCommandInvocation calls the library
// makes for a command of the given latency, and when the last one is made.
// It asks at once, then after a pause of half the shortest poll interval
// (between 20 ms and 500 ms), doubling up to 2 s.
func commandReads(latency, pollMin time.Duration) (int, time.Duration) {
	pause := min(max(pollMin/2, commandPollFloor), commandPollCap)
	var at time.Duration
	n := 1
	for at < latency {
		at += pause
		pause = min(2*pause, commandPollMax)
		n++
	}
	return n, at
}

// firstHour simulates an hour of polls of a job that stays quiet: the pause
// starts at pollMin and grows by half after each empty poll, up to
// followMax.
func firstHour(m Model, pollMin, followMax time.Duration) float64 {
	var t time.Duration
	calls := 0
	pause := pollMin
	for t < time.Hour {
		calls += m.CallsPerPoll
		t += m.PollTime
		pause = min(pause*3/2, followMax)
		t += pause
	}
	return float64(calls)
}
