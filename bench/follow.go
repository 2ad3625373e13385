package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/runctl/runctl"
	"github.com/runctl/runctl/sandbox"
)

// Following targets.
const (
	QuietCallsTarget  = 400             // SSM calls per hour while a job is quiet
	FlowLatencyTarget = 2 * time.Second // line to event while output flows
)

// FollowSpec is one job followed to its end.
type FollowSpec struct {
	Name string
	// Scale divides every interval and the command latency: 5 runs five
	// times faster than real time, and the harness multiplies times and
	// divides rates back. 0 and 1 run in real time.
	Scale   int
	Latency time.Duration // injected command latency in real time; 0 is the sandbox's own
	Quiet   time.Duration // silence before the job's one line; 0 for a flowing job
	Flow    time.Duration // how long a flowing job prints a line every 100 ms
}

// FollowRun is what following one job recorded, in the run's own time.
type FollowRun struct {
	Spec      FollowSpec
	FollowMax time.Duration // the ceiling, in the run's own time
	Start     time.Time     // the follow phase began
	End       time.Time     // Train returned
	Calls     []Call        // SSM calls of the follow phase
	Lines     []LineDelay
}

// LineDelay is one line of output: when the job wrote it and when its event
// reached the handler.
type LineDelay struct{ Written, Delivered time.Time }

// Follow ships codeDir to instanceID, starts a job there as spec says,
// follows it to its end and returns what the follow recorded.
func Follow(ctx context.Context, srv *sandbox.Server, instanceID, codeDir string, spec FollowSpec,
	jobID string) (*FollowRun, error) {
	scale := time.Duration(max(spec.Scale, 1))
	run := &FollowRun{Spec: spec, FollowMax: DefaultFollowMax / scale}
	watch := &followWatch{}
	w, err := NewClient(ctx, srv, ClientSpec{
		PollMin: DefaultPollMin / scale, PollMax: DefaultPollMax / scale, FollowMax: run.FollowMax,
		SSMLatency: spec.Latency / scale, OnEvent: watch.handle,
	})
	if err != nil {
		return nil, err
	}
	script, args := jobScript(spec, scale)
	if _, err := w.Client.Train(ctx, instanceID, script, runctl.WithCodeDir(codeDir),
		runctl.WithJobID(jobID), runctl.WithArgs(args...)); err != nil {
		return nil, fmt.Errorf("following %s: %w", spec.Name, err)
	}
	run.End = time.Now()
	run.Start = watch.started()
	run.Calls = w.Calls.Calls(run.Start)
	run.Lines = watch.lines.delays()
	return run, nil
}

// followWatch notes when the follow phase starts and times the job's lines.
type followWatch struct {
	mu    sync.Mutex
	start time.Time
	lines lineClock
}

func (f *followWatch) handle(_ context.Context, e runctl.Event) {
	switch e := e.(type) {
	case runctl.PhaseStarted:
		if e.Phase == runctl.PhaseFollow {
			f.mu.Lock()
			f.start = time.Now()
			f.mu.Unlock()
		}
	case runctl.LogOutput:
		f.lines.write(e.Data)
	}
}

func (f *followWatch) started() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.start
}

// jobScript returns the script of codeDir the job runs and its arguments.
func jobScript(spec FollowSpec, scale time.Duration) (string, []string) {
	if spec.Quiet > 0 {
		return "quiet.sh", []string{strconv.FormatFloat((spec.Quiet / scale).Seconds(), 'f', 3, 64)}
	}
	return "flow.sh", []string{strconv.Itoa(int(spec.Flow / (100 * time.Millisecond)))}
}

// WriteFollowScripts writes the jobs' scripts into dir: quiet.sh sleeps for
// its argument in seconds and then prints one timestamped line; flow.sh
// prints its argument's number of timestamped lines, 100 ms apart.
func WriteFollowScripts(dir string) error {
	scripts := map[string]string{
		"quiet.sh": "#!/bin/bash\nsleep \"$1\"\necho \"line $(date +%s%N)\"\n",
		"flow.sh": "#!/bin/bash\nfor ((i = 0; i < $1; i++)); do\n\techo \"line $(date +%s%N)\"\n" +
			"\tsleep 0.1\ndone\n",
	}
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
	}
	return nil
}

// lineClock reads the timestamps of the job's lines as their bytes arrive.
type lineClock struct {
	mu      sync.Mutex
	partial []byte
	lines   []LineDelay
}

func (l *lineClock) write(p []byte) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return
		}
		line := string(l.partial[:i])
		l.partial = l.partial[i+1:]
		var ns int64
		if _, err := fmt.Sscanf(line, "line %d", &ns); err == nil {
			l.lines = append(l.lines, LineDelay{Written: time.Unix(0, ns), Delivered: now})
		}
	}
}

func (l *lineClock) delays() []LineDelay {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]LineDelay(nil), l.lines...)
}

// Delays returns each line's delay in the run's own time.
func (r *FollowRun) Delays() []time.Duration {
	var out []time.Duration
	for _, l := range r.Lines {
		out = append(out, l.Delivered.Sub(l.Written))
	}
	return out
}

// sends returns the times of the run's SendCommand calls: one per poll.
func (r *FollowRun) sends() []time.Time {
	var out []time.Time
	for _, c := range r.Calls {
		if c.Op == "SendCommand" {
			out = append(out, c.At)
		}
	}
	return out
}

// Quiet is the analysis of a quiet job's polls, in real time.
type Quiet struct {
	Polls        int     // polls at the ceiling that the rate is taken over
	CallsPerPoll float64 // at the ceiling
	Gap          time.Duration
	PerHour      float64 // SSM calls per hour at the ceiling
	FirstHour    float64 // the back-off from the first poll included
	LineDelay    time.Duration
}

// Quiet analyses a quiet job: the polls whose pause had reached the
// ceiling give the rate; the calls before them are the back-off.
func (r *FollowRun) Quiet() (Quiet, error) {
	sends := r.sends()
	first := -1
	for i := 1; i < len(sends); i++ {
		if sends[i].Sub(sends[i-1]) >= r.FollowMax {
			first = i
			break
		}
	}
	last := len(sends) - 1
	if first < 0 || last-first < 1 {
		return Quiet{}, fmt.Errorf("%s: the job was not quiet long enough to poll twice at the ceiling "+
			"(%d polls)", r.Spec.Name, len(sends))
	}
	scale := float64(max(r.Spec.Scale, 1))
	window := sends[last].Sub(sends[first])
	calls := 0
	for _, c := range r.Calls {
		if !c.At.Before(sends[first]) && c.At.Before(sends[last]) {
			calls++
		}
	}
	q := Quiet{Polls: last - first, CallsPerPoll: float64(calls) / float64(last-first),
		Gap: time.Duration(float64(window) / float64(last-first) * scale)}
	q.PerHour = float64(calls) / (window.Seconds() * scale) * 3600
	ramp := sends[first].Sub(r.Start).Seconds() * scale
	q.FirstHour = float64(indexAt(r.Calls, sends[first])) + q.PerHour*(3600-ramp)/3600
	if d := r.Delays(); len(d) > 0 {
		q.LineDelay = time.Duration(float64(d[len(d)-1]) * scale)
	}
	return q, nil
}

// indexAt returns the index of the first call at or after t.
func indexAt(calls []Call, t time.Time) int {
	for i, c := range calls {
		if !c.At.Before(t) {
			return i
		}
	}
	return len(calls)
}

// Flowing is the analysis of a job whose output flows.
type Flowing struct {
	Delay        Dist
	Polls        int
	CallsPerPoll float64
}

// Flowing analyses a flowing job's line delays and polls.
func (r *FollowRun) Flowing() Flowing {
	polls := len(r.sends())
	f := Flowing{Delay: Summarize(r.Delays()), Polls: polls}
	if polls > 0 {
		f.CallsPerPoll = float64(len(r.Calls)) / float64(polls)
	}
	return f
}

// FollowRows turns a follow run into report rows, with the model's figure
// for the same latency beside the measured one.
func FollowRows(r *FollowRun) ([]Row, error) {
	s := r.Spec
	latency := s.Latency
	if latency == 0 {
		latency = sandboxLatency
	}
	// The sandbox runs the command at once; the harness only holds back
	// its result, so the log is read at the start of the latency.
	m := ModelFollow(latency, sandboxLatency, DefaultPollMin, DefaultFollowMax)
	if s.Quiet > 0 {
		q, err := r.Quiet()
		if err != nil {
			return nil, err
		}
		rows := []Row{{What: "following: SSM calls/hour, quiet job", Case: s.Name,
			Runctl: fmt.Sprintf("%.0f/h at the ceiling (%.1f calls a poll, a poll every %s; %.0f in the first hour)",
				q.PerHour, q.CallsPerPoll, secs(q.Gap), q.FirstHour),
			Instead: fmt.Sprintf("model %.0f/h (%d calls a poll; %.0f in the first hour)", m.QuietPerHour,
				m.CallsPerPoll, m.FirstHour),
			Target: fmt.Sprintf("≤ %d/h", QuietCallsTarget),
			Result: verdict(q.PerHour <= QuietCallsTarget, fmt.Sprintf("%.0f/h", q.PerHour))}}
		if s.Scale <= 1 && q.LineDelay > 0 {
			rows = append(rows, Row{What: "following: line delay after silence", Case: s.Name,
				Runctl: fmt.Sprintf("%s after %s of silence", secs(q.LineDelay), secs(s.Quiet)),
				Instead: fmt.Sprintf("model ≤ %s (the pause, a poll to the next read, the rest of that poll)",
					secs(m.QuietLineMax)),
				Target: fmt.Sprintf("< the poll interval then (%s)", secs(DefaultFollowMax)),
				Result: verdict(q.LineDelay < DefaultFollowMax, secs(q.LineDelay))})
		}
		return rows, nil
	}
	f := r.Flowing()
	return []Row{{What: "following: line delay while flowing", Case: s.Name,
		Runctl: fmt.Sprintf("median %s, p95 %s, max %s (%d lines, %d polls, %.1f calls a poll)",
			secs(f.Delay.P50), secs(f.Delay.P95), secs(f.Delay.Max), f.Delay.N, f.Polls, f.CallsPerPoll),
		Instead: flowModel(m, latency),
		Target:  "< " + secs(FlowLatencyTarget),
		Result:  verdict(f.Delay.N > 0 && f.Delay.Max < FlowLatencyTarget, "max "+secs(f.Delay.Max))}}, nil
}

// sandboxLatency is about how long the sandbox takes to run a poll command
// and report it done, for the model.
const sandboxLatency = 30 * time.Millisecond

// flowModel words the model of a flowing job; with AWS's latency it adds the
// case where the agent reads the log at the end of the latency, which AWS
// lies between.
func flowModel(m Model, latency time.Duration) string {
	s := fmt.Sprintf("model mean %s, max %s", secs(m.FlowMean), secs(m.FlowMax))
	if latency > sandboxLatency {
		late := ModelFollow(latency, latency, DefaultPollMin, DefaultFollowMax)
		s += fmt.Sprintf("; read at the end of the latency: mean %s, max %s", secs(late.FlowMean), secs(late.FlowMax))
	}
	return s
}
