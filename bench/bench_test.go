package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestModelFollowMatchesTheLibrarysSchedule(t *testing.T) {
	tests := []struct {
		name         string
		latency      time.Duration
		callsPerPoll int
		pollTime     time.Duration
		perHour      float64
	}{
		{"sandbox", 30 * time.Millisecond, 3, 500 * time.Millisecond, 354},
		{"half a second", 500 * time.Millisecond, 3, 500 * time.Millisecond, 354},
		{"one second", time.Second, 4, 1500 * time.Millisecond, 457},
		{"two seconds", 2 * time.Second, 5, 3500 * time.Millisecond, 537},
		{"instant", 0, 2, 0, 240},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := ModelFollow(tt.latency, tt.latency, DefaultPollMin, DefaultFollowMax)
			assert.Equal(t, tt.callsPerPoll, m.CallsPerPoll)
			assert.Equal(t, tt.pollTime, m.PollTime)
			assert.InDelta(t, tt.perHour, m.QuietPerHour, 1)
			assert.Greater(t, m.FirstHour, m.QuietPerHour, "the back-off adds calls")
		})
	}
}

func TestModelFollowFlowDelays(t *testing.T) {
	// Sandbox: read at once, result seen at 0.5 s, next poll 1 s later.
	m := ModelFollow(30*time.Millisecond, 30*time.Millisecond, DefaultPollMin, DefaultFollowMax)
	assert.Equal(t, 1970*time.Millisecond, m.FlowMax)
	assert.Equal(t, 30*time.Second+970*time.Millisecond, m.QuietLineMax)

	early := ModelFollow(time.Second, 0, DefaultPollMin, DefaultFollowMax)
	late := ModelFollow(time.Second, time.Second, DefaultPollMin, DefaultFollowMax)
	assert.Equal(t, 4*time.Second, early.FlowMax)
	assert.Equal(t, 3*time.Second, late.FlowMax)
}

func TestSummarize(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	d := Summarize(ds)
	assert.Equal(t, 100, d.N)
	assert.Equal(t, time.Millisecond, d.Min)
	assert.Equal(t, 50*time.Millisecond, d.P50)
	assert.Equal(t, 95*time.Millisecond, d.P95)
	assert.Equal(t, 100*time.Millisecond, d.Max)
	assert.Equal(t, Dist{}, Summarize(nil))
}

func TestQuietAnalysis(t *testing.T) {
	// Polls of three calls: two during the back-off, then three at a 6 s
	// ceiling, 0.1 s each, in a run five times faster than real time.
	start := time.Unix(1000, 0)
	var calls []Call
	poll := func(at time.Duration) {
		for i, op := range []string{"SendCommand", "GetCommandInvocation", "GetCommandInvocation"} {
			calls = append(calls, Call{Op: op, At: start.Add(at + time.Duration(i)*50*time.Millisecond)})
		}
	}
	for _, at := range []time.Duration{0, 2 * time.Second, 8100 * time.Millisecond,
		14200 * time.Millisecond, 20300 * time.Millisecond} {
		poll(at)
	}
	r := &FollowRun{Spec: FollowSpec{Name: "t", Scale: 5, Quiet: time.Minute}, FollowMax: 6 * time.Second,
		Start: start, Calls: calls}
	q, err := r.Quiet()
	require.NoError(t, err)
	assert.Equal(t, 2, q.Polls)
	assert.InDelta(t, 3, q.CallsPerPoll, 0.01)
	assert.Equal(t, 30500*time.Millisecond, q.Gap)
	assert.InDelta(t, 3600.0/30.5*3, q.PerHour, 0.5)

	r.Calls = calls[:6]
	_, err = r.Quiet()
	assert.Error(t, err, "no two polls at the ceiling")
}

func TestPauseBefore(t *testing.T) {
	t0 := time.Unix(0, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	calls := []Call{{Op: "DescribeInstances", At: at(0)}, {Op: "PutObject", At: at(500)},
		{Op: "DescribeInstanceInformation", At: at(1000)}, {Op: "DescribeInstanceInformation", At: at(2500)}}
	tests := []struct {
		name  string
		ready time.Time
		want  time.Duration
	}{
		{"between the last two polls", at(2000), 1500 * time.Millisecond},
		{"between the first two", at(200), time.Second},
		{"before any poll", at(-5), 0},
		{"after every poll", at(3000), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, pauseBefore(calls, tt.ready))
		})
	}
}

func TestUploadedBy(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.py")
	require.NoError(t, os.WriteFile(a, []byte("12345"), 0o644))
	out := "upload: " + a + " to s3://b/k/a.py\nsomething else\nupload: " + filepath.Join(dir, "gone") +
		" to s3://b/k/gone\n"
	n, bytes := uploadedBy([]byte(out))
	assert.Equal(t, 2, n)
	assert.Equal(t, int64(5), bytes)
}

func TestSecs(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0 ms"},
		{2500 * time.Microsecond, "2.5 ms"},
		{99 * time.Millisecond, "99 ms"},
		{time.Second, "1 s"},
		{1250 * time.Millisecond, "1.25 s"},
		{30 * time.Second, "30 s"},
		{30600 * time.Millisecond, "30.6 s"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, secs(tt.d))
		})
	}
}

func TestReportMarkdown(t *testing.T) {
	r := &Report{Machine: "m", Started: time.Unix(0, 0)}
	r.Add(Row{What: "a|b", Result: "met: 1"}, Row{What: "c", Result: "NOT met: 2"})
	r.Note("n %d", 1)
	var b strings.Builder
	require.NoError(t, r.Markdown(&b))
	assert.Contains(t, b.String(), `| a\|b |`)
	assert.Contains(t, b.String(), "- n 1\n")
	assert.Len(t, r.Missed(), 1)
}
