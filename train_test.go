package runctl

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/runctl/runctl/internal/remote"
)

// trainID is the instance every training test runs on.
const trainID = "i-0123456789abcdef0"

// launchedAt is when the fake instance was launched.
var launchedAt = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// trainEnv is a Client whose instance is a temporary directory: SSM
// commands run there with bash, so the real start and poll scripts and the
// real job runner are under test.
type trainEnv struct {
	*testEnv
	sh    *shellSSM
	clock *sleepClock
	logs  *recorder // LogOutput events, their data copied
}

func newTrainEnv(t *testing.T, opts ...Option) *trainEnv {
	t.Helper()
	e := &trainEnv{sh: newShellSSM(t), clock: &sleepClock{fakeClock: newFakeClock()}, logs: &recorder{}}
	var env *testEnv
	handler := func(ctx context.Context, ev Event) {
		// LogOutput.Data is only valid during the call.
		if lo, ok := ev.(LogOutput); ok {
			lo.Data = bytes.Clone(lo.Data)
			e.logs.handle(ctx, lo)
		}
		env.rec.handle(ctx, ev)
	}
	base := []Option{WithSSM(e.sh), WithClock(e.clock), WithPollInterval(time.Second, 5*time.Second),
		WithEventHandler(handler)}
	env = newTestEnv(t, append(base, opts...)...)
	env.ec2.addRunning(trainID, "g4dn.xlarge", MarketSpot, launchedAt,
		map[string]string{TagManaged: "true", TagPrice: "0.160000"})
	e.testEnv = env
	return e
}

// placeCode puts files where an earlier sync would have left them, so Train
// can run with WithoutSync.
func (e *trainEnv) placeCode(t *testing.T, files map[string]string) {
	t.Helper()
	dir := filepath.Join(e.sh.home, "code", "v1")
	for name, body := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o755))
	}
	require.NoError(t, os.Symlink(dir, filepath.Join(e.sh.home, "code", "latest")))
}

// train runs script, a bash script placed in the code directory, to its end.
func (e *trainEnv) train(t *testing.T, script string, opts ...TrainOption) (*Result, error) {
	t.Helper()
	e.placeCode(t, map[string]string{"run.sh": script})
	opts = append([]TrainOption{WithoutSync(), WithJobID("j1")}, opts...)
	return e.c.Train(context.Background(), trainID, "run.sh", opts...)
}

// logText joins the data of the LogOutput events from the from-th on,
// checking that each starts where the one before it ended.
func (e *trainEnv) logText(t *testing.T, from int) string {
	t.Helper()
	var b []byte
	for _, lo := range eventsOf[LogOutput](e.logs)[from:] {
		require.Equal(t, int64(len(b)), lo.Offset, "a gap or a repeat in the log events")
		require.NotEmpty(t, lo.Data)
		require.LessOrEqual(t, len(lo.Data), remote.MaxChunk)
		b = append(b, lo.Data...)
	}
	return string(b)
}

// jobLog returns the log the job runner wrote on the fake instance.
func (e *trainEnv) jobLog(t *testing.T, id string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.sh.JobDir(id), "log"))
	require.NoError(t, err)
	return string(b)
}

// polls counts the poll commands sent.
func (e *trainEnv) polls() int { return len(e.sh.Scripts("nojob")) }

// handJob is a job directory laid out by hand the way job.sh leaves it, so
// a test decides what every poll sees.
type handJob struct {
	t   *testing.T
	dir string
}

func (e *trainEnv) handJob(t *testing.T, id string, started time.Time) *handJob {
	t.Helper()
	j := &handJob{t: t, dir: e.sh.JobDir(id)}
	require.NoError(t, os.MkdirAll(j.dir, 0o755))
	j.write("status", "running\n")
	j.write("started_at", fmt.Sprintf("%d\n", started.UnixMilli()))
	j.write("log", "")
	return j
}

func (j *handJob) write(name, body string) {
	j.t.Helper()
	require.NoError(j.t, os.WriteFile(filepath.Join(j.dir, name), []byte(body), 0o644))
}

func (j *handJob) appendLog(s string) {
	j.t.Helper()
	f, err := os.OpenFile(filepath.Join(j.dir, "log"), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(j.t, err)
	_, err = f.WriteString(s)
	require.NoError(j.t, err)
	require.NoError(j.t, f.Close())
}

func (j *handJob) exit(code int, finished time.Time) {
	j.write("finished_at", fmt.Sprintf("%d\n", finished.UnixMilli()))
	j.write("exit_code", fmt.Sprintf("%d\n", code))
	j.write("status", "exited\n")
}

// lines returns n numbered lines of training-like output.
func lines(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "step %d loss 0.%04d\n", i, i%10000)
	}
	return b.String()
}

func TestTrainReadsAShortJobsOutputBeforeItIsDone(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script string
		notYet int // InvocationDoesNotExist answers before each command's output
		want   string
	}{
		{"one line", "echo hello\n", 1, "hello\n"},
		{"no newline at the end", "printf 'no newline'\n", 1, "no newline"},
		{"no output", ":\n", 1, ""},
		{"stderr too", "echo out; echo err >&2\n", 1, "out\nerr\n"},
		{"SSM slow to know the command", "echo hello\n", 5, "hello\n"},
		{"SSM quick to know the command", "echo hello\n", 0, "hello\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTrainEnv(t)
			e.sh.notYet = tc.notYet
			res, err := e.train(t, tc.script)
			require.NoError(t, err)

			assert.Equal(t, 0, res.ExitCode)
			assert.Equal(t, tc.want, e.logText(t, 0))
			assert.Equal(t, tc.want, e.jobLog(t, "j1"))
			assert.Equal(t, int64(len(tc.want)), res.LogBytes)
			assert.Equal(t, "j1", res.Job.ID)
			done := eventsOf[JobFinished](e.rec)
			require.Len(t, done, 1)
			assert.Equal(t, 0, done[0].Result.ExitCode)
		})
	}
}

func TestTrainNonZeroExitIsAJobError(t *testing.T) {
	for _, tc := range []struct {
		name     string
		script   string
		code     int
		lastLine string
	}{
		{"error on stderr", "echo epoch 1\necho 'RuntimeError: CUDA out of memory' >&2\nexit 1\n",
			1, "RuntimeError: CUDA out of memory"},
		{"exit code 42", "echo saving\nexit 42\n", 42, "saving"},
		{"exit code 255", "echo bye\nexit 255\n", 255, "bye"},
		{"killed", "echo going down\nkill -9 $$\n", 137, "Killed"},
		{"command not found", "echo before\nno-such-command-runctl\n", 127,
			"no-such-command-runctl: command not found"},
		{"set -e", "set -e\necho before\nfalse\necho after\n", 1, "before"},
		{"last line without newline", "printf 'half a line'\nexit 2\n", 2, "half a line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTrainEnv(t)
			res, err := e.train(t, tc.script)
			require.Error(t, err, "a failed script must never be reported as success")

			var je *JobError
			require.ErrorAs(t, err, &je)
			assert.Equal(t, tc.code, je.ExitCode)
			assert.Equal(t, trainID, je.InstanceID)
			assert.Equal(t, "j1", je.JobID)
			require.NotEmpty(t, je.Tail)
			assert.Contains(t, je.Tail[len(je.Tail)-1], tc.lastLine)
			assert.Contains(t, err.Error(), fmt.Sprintf("exit code %d", tc.code))
			assert.NotErrorIs(t, err, ErrInterrupted)

			require.NotNil(t, res)
			assert.Equal(t, tc.code, res.ExitCode)
			assert.Equal(t, e.jobLog(t, "j1"), e.logText(t, 0))
			done := eventsOf[JobFinished](e.rec)
			require.Len(t, done, 1)
			assert.Equal(t, tc.code, done[0].Result.ExitCode)
		})
	}
}

func TestTrainLongFailingJobDeliversItsLastLines(t *testing.T) {
	e := newTrainEnv(t)
	res, err := e.train(t, "for i in $(seq 1 6000); do echo \"step $i loss 0.$((i % 10000))\"; done\n"+
		"echo 'Traceback (most recent call last):' >&2\necho 'ValueError: loss is nan' >&2\nexit 7\n")

	var je *JobError
	require.ErrorAs(t, err, &je)
	assert.Equal(t, 7, je.ExitCode)
	require.Len(t, je.Tail, 20)
	assert.Equal(t, "step 6000 loss 0.6000", je.Tail[17])
	assert.Equal(t, "Traceback (most recent call last):", je.Tail[18])
	assert.Equal(t, "ValueError: loss is nan", je.Tail[19])

	log := e.jobLog(t, "j1")
	assert.Greater(t, len(log), 6*remote.MaxChunk, "the log must span many chunks")
	assert.Equal(t, log, e.logText(t, 0))
	assert.Equal(t, int64(len(log)), res.LogBytes)
	assert.Zero(t, e.sh.truncated, "no poll answer may exceed what SSM keeps")
	assert.LessOrEqual(t, e.sh.maxStdout, ssmStdoutLimit)
}

func TestTrainWorstCasePollAnswerFitsSSMsLimit(t *testing.T) {
	// The longest job ID, the longest notice and full chunks from offsets
	// with many digits make the longest poll answers.
	id := strings.Repeat("j", 64)
	e := newTrainEnv(t)
	e.placeCode(t, map[string]string{"run.sh": "" +
		"head -c 2000 /dev/zero | tr '\\0' N >\"$RUNCTL_JOB_DIR/interrupted\"\n" +
		"head -c 60000 /dev/urandom | base64 -w 200\n"})
	res, err := e.c.Train(context.Background(), trainID, "run.sh", WithoutSync(), WithJobID(id))

	assert.ErrorIs(t, err, ErrInterrupted)
	assert.Zero(t, e.sh.truncated)
	assert.LessOrEqual(t, e.sh.maxStdout, ssmStdoutLimit)
	assert.Greater(t, e.sh.maxStdout, 22000, "the answers measured must be the long ones")
	assert.Equal(t, e.jobLog(t, id), e.logText(t, 0))
	assert.Equal(t, strings.Repeat("N", 512), res.Notice, "the notice is cut at 512 bytes")
}

func TestTrainSlowOutputHasNoGapOrRepeat(t *testing.T) {
	e := newTrainEnv(t)
	res, err := e.train(t, "for i in $(seq 1 40); do printf 'part %d ' $i; "+
		"[ $((i % 7)) = 0 ] && echo; sleep 0.005; done; echo end\n")
	require.NoError(t, err)

	log := e.jobLog(t, "j1")
	assert.True(t, strings.HasSuffix(log, "part 40 end\n"), log)
	assert.Equal(t, log, e.logText(t, 0))
	assert.Equal(t, int64(len(log)), res.LogBytes)
	assert.Greater(t, len(eventsOf[LogOutput](e.logs)), 1, "the output must arrive in pieces")
}

func TestTrainPassesArgumentsAndEnvironment(t *testing.T) {
	e := newTrainEnv(t)
	_, err := e.train(t, "for a in \"$@\"; do printf '[%s]\\n' \"$a\"; done; printf '%s\\n' \"$LR\"\n",
		WithArgs("two words", "$HOME", "--epochs=3", "it's"), WithEnv(map[string]string{"LR": "0.1 'q' $x"}))
	require.NoError(t, err)
	assert.Equal(t, "[two words]\n[$HOME]\n[--epochs=3]\n[it's]\n0.1 'q' $x\n", e.logText(t, 0))
}

func TestTrainSpotNoticeReturnsInterruptedError(t *testing.T) {
	e := newTrainEnv(t)
	const notice = `{"action": "terminate", "time": "2026-12-04T12:02:00Z"}`
	var started, fired bool
	e.sh.onSend = func(_ int, script string) error {
		if strings.Contains(script, "echo started") {
			started = true
		}
		if !started || fired || !strings.Contains(script, "nojob") {
			return nil
		}
		fired = true
		// Do what the watchdog does on a notice, once the script runs.
		dir := e.sh.JobDir("j1")
		require.Eventually(t, func() bool {
			b, _ := os.ReadFile(filepath.Join(dir, "log"))
			return strings.Contains(string(b), "training")
		}, 5*time.Second, time.Millisecond)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "interrupted"), []byte(notice+"\n"), 0o644))
		b, err := os.ReadFile(filepath.Join(dir, "pid"))
		require.NoError(t, err)
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		require.NoError(t, err)
		require.NoError(t, syscall.Kill(pid, syscall.SIGTERM))
		return nil
	}
	res, err := e.train(t, "echo training\n"+
		"i=0; while [ $i -lt 300 ]; do i=$((i+1)); sleep 0.01; done\necho finished\n")

	var ie *InterruptedError
	require.ErrorAs(t, err, &ie)
	assert.ErrorIs(t, err, ErrInterrupted)
	var je *JobError
	assert.False(t, errors.As(err, &je), "an interruption is not a failed job")
	assert.Equal(t, 143, ie.ExitCode, "the script got SIGTERM")
	assert.Equal(t, "AWS gave notice to terminate the instance at 12:02:00 UTC", ie.Notice, "the notice in words: %s", notice)
	assert.True(t, res.Interrupted)
	assert.Equal(t, "training\n", e.logText(t, 0))
	done := eventsOf[JobFinished](e.rec)
	require.Len(t, done, 1)
	assert.True(t, done[0].Result.Interrupted)
}

func TestFollowSpotInterruption(t *testing.T) {
	started := launchedAt.Add(time.Minute)
	for _, tc := range []struct {
		name     string
		setup    func(j *handJob)
		reclaim  string // StateReason code set when the third poll is sent; "" for none
		exitCode int
		notice   string
	}{
		{"notice and exit code", func(j *handJob) {
			j.write("interrupted", "terminate at 12:02\n")
			j.exit(143, started.Add(time.Minute))
		}, "", 143, "terminate at 12:02"},
		{"notice and a clean exit after the checkpoint", func(j *handJob) {
			j.write("interrupted", "terminate at 12:02\n")
			j.exit(0, started.Add(time.Minute))
		}, "", 0, "terminate at 12:02"},
		{"instance reclaimed while following", func(*handJob) {},
			"Server.SpotInstanceTermination", -1, "Server.SpotInstanceTermination"},
		{"instance gone after the notice was seen", func(j *handJob) {
			j.write("interrupted", "terminate at 12:02\n")
		}, "Server.InternalError", -1, "terminate at 12:02"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTrainEnv(t)
			j := e.handJob(t, "j1", started)
			j.appendLog("epoch 1\n")
			tc.setup(j)
			e.sh.onSend = func(n int, _ string) error {
				if tc.reclaim == "" || n < 3 {
					return nil
				}
				e.ec2.setState(trainID, "shutting-down", tc.reclaim, "instance ended")
				return apiErr("InvalidInstanceId")
			}
			res, err := e.c.Follow(context.Background(), trainID, "j1")

			var ie *InterruptedError
			require.ErrorAs(t, err, &ie)
			assert.ErrorIs(t, err, ErrInterrupted)
			var je *JobError
			assert.False(t, errors.As(err, &je), "an interruption is not a failed job")
			assert.Equal(t, tc.exitCode, ie.ExitCode)
			assert.Contains(t, ie.Notice, tc.notice)
			assert.Equal(t, "j1", ie.JobID)
			assert.True(t, res.Interrupted)
			assert.Equal(t, "epoch 1\n", e.logText(t, 0))
			assert.Len(t, eventsOf[JobFinished](e.rec), 1)
		})
	}
}

func TestFollowInstanceGoneWithoutNoticeIsNotSuccess(t *testing.T) {
	e := newTrainEnv(t)
	e.handJob(t, "j1", launchedAt).appendLog("epoch 1\n")
	e.sh.onSend = func(n int, _ string) error {
		if n < 3 {
			return nil
		}
		e.ec2.setState(trainID, "terminated", "Client.UserInitiatedShutdown", "User initiated shutdown")
		return apiErr("InvalidInstanceId")
	}
	res, err := e.c.Follow(context.Background(), trainID, "j1")

	var pe *PhaseError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, PhaseFollow, pe.Phase)
	assert.NotErrorIs(t, err, ErrInterrupted)
	assert.Contains(t, err.Error(), "terminated")
	assert.Equal(t, -1, res.ExitCode)
	assert.Empty(t, eventsOf[JobFinished](e.rec))
}

func TestFollowNeverTakesABadPollAnswerForTheEnd(t *testing.T) {
	dataLine := func(s string) int {
		i := strings.Index(s, "chunk ")
		return i + strings.Index(s[i:], "\n") + 1
	}
	for _, tc := range []struct {
		name   string
		mangle func(string) string
	}{
		{"cut in half", func(s string) string { return s[:len(s)/2] }},
		{"cut before the chunk line", func(s string) string { return s[:strings.Index(s, "chunk ")] }},
		{"cut after the exit line", func(s string) string { return s[:strings.Index(s, "size ")] }},
		{"cut inside the data on a base64 boundary", func(s string) string { return s[:dataLine(s)+400] }},
		{"cut inside the data", func(s string) string { return s[:dataLine(s)+401] }},
		{"data line lost", func(s string) string { return s[:dataLine(s)] }},
		{"empty", func(string) string { return "" }},
		{"not a poll answer", func(string) string { return "bash: line 1: stat: command not found\n" }},
		{"answer for another offset", func(s string) string {
			// A whole, valid answer, but one byte further on.
			i := strings.Index(s, "chunk ")
			var off, n int
			_, err := fmt.Sscanf(s[i:], "chunk %d %d", &off, &n)
			require.NoError(t, err)
			data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s[dataLine(s):]))
			require.NoError(t, err)
			return s[:i] + fmt.Sprintf("chunk %d %d\n%s\n", off+1, n-1,
				base64.StdEncoding.EncodeToString(data[1:]))
		}},
		{"more bytes than claimed", func(s string) string {
			i := strings.Index(s, "chunk ")
			j := strings.Index(s[i:], "\n") + i
			var off, n int
			_, err := fmt.Sscanf(s[i:j], "chunk %d %d", &off, &n)
			require.NoError(t, err)
			return s[:i] + fmt.Sprintf("chunk %d %d", off, n-1) + s[j:]
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTrainEnv(t)
			j := e.handJob(t, "j1", launchedAt)
			j.appendLog(lines(1000)) // about 20 kB: two chunks
			j.exit(0, launchedAt.Add(time.Hour))
			// Poll 1 describes the job it attached to; then the first
			// answer of each chunk is bad.
			bad := map[int]bool{2: true, 4: true}
			e.sh.mangle = func(n int, s string) string {
				if bad[n] {
					return tc.mangle(s)
				}
				return s
			}
			res, err := e.c.Follow(context.Background(), trainID, "j1")
			require.NoError(t, err)

			assert.Equal(t, 5, e.polls())
			assert.Equal(t, lines(1000), e.logText(t, 0))
			assert.Equal(t, int64(len(lines(1000))), res.LogBytes)
			assert.Equal(t, 0, res.ExitCode)
		})
	}
}

func TestFollowGivesUpOnPollAnswersThatStayBad(t *testing.T) {
	e := newTrainEnv(t)
	j := e.handJob(t, "j1", launchedAt)
	j.appendLog("done\n")
	j.exit(0, launchedAt.Add(time.Hour))
	e.sh.mangle = func(_ int, s string) string { return s[:len(s)/2] }
	res, err := e.c.Follow(context.Background(), trainID, "j1")

	var pe *PhaseError
	require.ErrorAs(t, err, &pe, "answers that never parse must not end in success")
	assert.Equal(t, PhaseFollow, pe.Phase)
	assert.Equal(t, -1, res.ExitCode)
	assert.Equal(t, 6, e.polls(), "five retries, then the error")
	assert.Empty(t, eventsOf[LogOutput](e.logs))
}

func TestFollowRetriesAFailedPoll(t *testing.T) {
	e := newTrainEnv(t)
	j := e.handJob(t, "j1", launchedAt)
	j.appendLog(lines(1000))
	j.exit(3, launchedAt.Add(time.Hour))
	e.sh.onSend = func(n int, _ string) error {
		if n == 2 || n == 3 {
			return apiErr("ThrottlingException")
		}
		return nil
	}
	_, err := e.c.Follow(context.Background(), trainID, "j1")

	var je *JobError
	require.ErrorAs(t, err, &je)
	assert.Equal(t, 3, je.ExitCode)
	assert.Equal(t, lines(1000), e.logText(t, 0))
}

func TestFollowReadsFlowingOutputBackToBack(t *testing.T) {
	e := newTrainEnv(t)
	j := e.handJob(t, "j1", launchedAt)
	j.appendLog(strings.Repeat("x", 3*remote.MaxChunk+10))
	var starts []time.Time
	var pauses []time.Duration
	e.sh.onSend = func(n int, _ string) error {
		starts = append(starts, e.clock.Now())
		if n == 6 {
			j.exit(0, launchedAt.Add(time.Hour))
		}
		return nil
	}
	e.clock.onAfter = func(d time.Duration) {
		if d >= time.Second {
			pauses = append(pauses, d)
		}
	}
	_, err := e.c.Follow(context.Background(), trainID, "j1")
	require.NoError(t, err)

	// Poll 1 describes the job Follow attached to; polls 2-4 read full
	// chunks, poll 5 the short rest, poll 6 finds the exit.
	require.Len(t, starts, 6)
	assert.Empty(t, pauses, "no poll-sized pause while output flows")
	assert.Equal(t, time.Second, starts[5].Sub(starts[4]),
		"after a short chunk the next poll starts one poll interval after the last one started")
	assert.Less(t, starts[4].Sub(starts[1]), 3*time.Second, "full chunks are read back to back")
	assert.Equal(t, 3*remote.MaxChunk+10, len(e.logText(t, 0)))
}

func TestFollowBacksOffWhileNothingHappens(t *testing.T) {
	e := newTrainEnv(t, WithFollowInterval(5*time.Second))
	j := e.handJob(t, "j1", launchedAt)
	var sleeps []time.Duration
	e.sh.onSend = func(n int, _ string) error {
		if n == 9 { // poll 1 describes the job
			j.exit(0, launchedAt.Add(time.Hour))
		}
		return nil
	}
	e.clock.onAfter = func(d time.Duration) {
		if d >= time.Second {
			sleeps = append(sleeps, d)
		}
	}
	_, err := e.c.Follow(context.Background(), trainID, "j1")
	require.NoError(t, err)

	require.Len(t, sleeps, 7)
	assert.Equal(t, 1500*time.Millisecond, sleeps[0])
	assert.Equal(t, 5*time.Second, sleeps[6], "pauses grow to the follow maximum")
	for i := 1; i < len(sleeps); i++ {
		assert.GreaterOrEqual(t, sleeps[i], sleeps[i-1])
	}
}

func TestResultCost(t *testing.T) {
	for _, tc := range []struct {
		name         string
		itype        string
		priceTag     string // "" for none
		instanceTime time.Duration
		cost         float64
		known        bool
		onDemandCost float64
	}{
		{"under a minute is billed a minute", "g4dn.xlarge", "0.160000", 30 * time.Second,
			0.16 / 60, true, 0.526 / 60},
		{"billed by the second after that", "g4dn.xlarge", "0.160000", 90*time.Minute + time.Second,
			0.16 * 5401 / 3600, true, 0.526 * 5401 / 3600},
		{"exactly a minute", "g4dn.xlarge", "0.160000", time.Minute, 0.16 / 60, true, 0.526 / 60},
		{"no price tag", "g4dn.xlarge", "", time.Hour, 0, false, 0.526},
		{"unreadable price tag", "g4dn.xlarge", "cheap", time.Hour, 0, false, 0.526},
		{"zero price tag", "g4dn.xlarge", "0", time.Hour, 0, false, 0.526},
		{"type without a known on-demand price", "zz9.mega", "1.000000", 2 * time.Hour, 2, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTrainEnv(t)
			tags := map[string]string{TagManaged: "true"}
			if tc.priceTag != "" {
				tags[TagPrice] = tc.priceTag
			}
			e.ec2.addRunning(trainID, tc.itype, MarketSpot, launchedAt, tags)
			finished := launchedAt.Add(tc.instanceTime)
			j := e.handJob(t, "j1", launchedAt.Add(10*time.Second))
			j.appendLog("done\n")
			j.exit(0, finished)
			res, err := e.c.Follow(context.Background(), trainID, "j1")
			require.NoError(t, err)

			assert.Equal(t, tc.instanceTime, res.InstanceTime)
			assert.Equal(t, tc.instanceTime-10*time.Second, res.Duration)
			assert.Equal(t, MarketSpot, res.Market)
			assert.Equal(t, tc.known, res.CostKnown)
			assert.Equal(t, tc.known, res.HourlyPrice.Known)
			assert.InDelta(t, tc.cost, res.Cost, 1e-9)
			if !tc.known {
				assert.Zero(t, res.Cost, "an unknown cost is never claimed")
			}
			assert.InDelta(t, tc.onDemandCost, res.OnDemandCost, 1e-9)
			done := eventsOf[JobFinished](e.rec)
			require.Len(t, done, 1)
			assert.Equal(t, *res, done[0].Result)
		})
	}
}

func TestValidateTrain(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script string
		opts   []TrainOption
		want   string // "" for valid
	}{
		{"plain", "train.py", nil, ""},
		{"nested", "training/train.py", nil, ""},
		{"dot slash", "./train.py", nil, ""},
		{"dot dot that stays inside", "a/../train.py", nil, ""},
		{"valid env and job ID", "train.py", []TrainOption{WithJobID("run-1.a_b"),
			WithEnv(map[string]string{"_X": "1", "LR2": "0.1"})}, ""},
		{"no script", "", nil, "no script"},
		{"absolute", "/etc/passwd", nil, "outside the code directory"},
		{"parent", "../train.py", nil, "outside the code directory"},
		{"parent after a detour", "a/../../train.py", nil, "outside the code directory"},
		{"parent with backslashes", `..\train.py`, nil, "outside the code directory"},
		{"just dot dot", "..", nil, "outside the code directory"},
		{"env name with a dash", "train.py", []TrainOption{WithEnv(map[string]string{"A-B": "1"})},
			"not an environment variable name"},
		{"env name with a digit first", "train.py", []TrainOption{WithEnv(map[string]string{"1A": "1"})},
			"not an environment variable name"},
		{"env name with =", "train.py", []TrainOption{WithEnv(map[string]string{"A=B": "1"})},
			"not an environment variable name"},
		{"empty env name", "train.py", []TrainOption{WithEnv(map[string]string{"": "1"})},
			"not an environment variable name"},
		{"env name with a space", "train.py", []TrainOption{WithEnv(map[string]string{"A B": "1"})},
			"not an environment variable name"},
		{"job ID with a slash", "train.py", []TrainOption{WithJobID("a/b")}, "job ID"},
		{"job ID with dot dot", "train.py", []TrainOption{WithJobID("../x")}, "job ID"},
		{"job ID with a leading dash", "train.py", []TrainOption{WithJobID("-x")}, "job ID"},
		{"job ID with a space", "train.py", []TrainOption{WithJobID("a b")}, "job ID"},
		{"job ID with a quote", "train.py", []TrainOption{WithJobID("a'b")}, "job ID"},
		{"job ID too long", "train.py", []TrainOption{WithJobID(strings.Repeat("a", 65))}, "job ID"},
		{"job ID latest", "train.py", []TrainOption{WithJobID("latest")}, "job ID"},
		{"negative client timeout", "train.py", []TrainOption{WithClientTimeout(-time.Second)}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := defaultTrainOptions()
			for _, opt := range tc.opts {
				opt(&o)
			}
			err := validateTrain(tc.script, &o)
			if tc.want == "" {
				require.NoError(t, err)
				assert.Regexp(t, jobIDRE, o.jobID, "a job ID is always set")
				return
			}
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Contains(t, err.Error(), tc.want)

			e := newTrainEnv(t)
			_, err = e.c.Train(context.Background(), trainID, tc.script, tc.opts...)
			require.ErrorAs(t, err, &ce)
			assert.Empty(t, e.ec2.Calls(""), "bad input is refused before any AWS call")
			assert.Empty(t, e.sh.Scripts(""))
		})
	}
}

func TestValidateTrainMakesDistinctJobIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		o := defaultTrainOptions()
		require.NoError(t, validateTrain("train.py", &o))
		assert.False(t, seen[o.jobID], o.jobID)
		seen[o.jobID] = true
	}
}

func TestTrainRefusesAnInstanceThatIsNotRunning(t *testing.T) {
	e := newTrainEnv(t)
	e.ec2.setState(trainID, "stopped", "Client.UserInitiatedShutdown", "stopped by user")
	_, err := e.c.Train(context.Background(), trainID, "run.sh", WithoutSync())
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Contains(t, err.Error(), "stopped")
	assert.Empty(t, e.sh.Scripts(""))
}

func TestTrainStartFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		code   map[string]string // nil: nothing shipped yet
		script string
		exit   int32
		stderr string
	}{
		{"no code on the instance", nil, "run.sh", 3, "no code on this instance"},
		{"script not in the code", map[string]string{"other.sh": "exit 0\n"}, "run.sh", 4,
			"is not in the shipped code"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTrainEnv(t)
			if tc.code != nil {
				e.placeCode(t, tc.code)
			}
			res, err := e.c.Train(context.Background(), trainID, tc.script, WithoutSync())
			assert.Nil(t, res)

			var pe *PhaseError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, PhaseStart, pe.Phase)
			var ce *CommandError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.exit, ce.ExitCode)
			assert.Contains(t, ce.Stderr, tc.stderr)
			assert.Zero(t, e.polls())
		})
	}
}

func TestDetachThenLogsThenFollow(t *testing.T) {
	e := newTrainEnv(t)
	e.placeCode(t, map[string]string{"run.sh": "echo waiting\n" +
		"i=0; while [ ! -e \"$RUNCTL_JOB_DIR/go\" ] && [ $i -lt 500 ]; do i=$((i+1)); sleep 0.01; done\n" +
		"echo went; exit 5\n"})
	res, err := e.c.Train(context.Background(), trainID, "run.sh", WithoutSync(), Detach())
	require.NoError(t, err)
	assert.Equal(t, -1, res.ExitCode)
	require.Len(t, eventsOf[JobStarted](e.rec), 1)
	id := res.Job.ID
	assert.Zero(t, e.polls(), "a detached call does not follow")

	// job.sh writes its heartbeat file non-atomically; a poll that catches it
	// empty fails, and Logs does not retry.
	require.Eventually(t, func() bool {
		beat, _ := os.ReadFile(filepath.Join(e.sh.JobDir(id), "heartbeat"))
		return strings.Contains(e.jobLog(t, id), "waiting") && len(beat) > 0
	}, 5*time.Second, time.Millisecond)
	snap, err := e.c.Logs(context.Background(), trainID, "latest")
	require.NoError(t, err)
	assert.Equal(t, -1, snap.ExitCode)
	assert.Equal(t, id, snap.Job.ID, "latest is resolved to the job's own ID")
	assert.Equal(t, "waiting\n", e.logText(t, 0))

	require.NoError(t, os.WriteFile(filepath.Join(e.sh.JobDir(id), "go"), nil, 0o644))
	from := len(eventsOf[LogOutput](e.logs))
	res, err = e.c.Follow(context.Background(), trainID, "")
	var je *JobError
	require.ErrorAs(t, err, &je)
	assert.Equal(t, 5, je.ExitCode)
	assert.Equal(t, id, res.Job.ID)
	assert.Equal(t, "waiting\nwent\n", e.logText(t, from))
}

func TestLogsOfAMissingJobIsAnError(t *testing.T) {
	e := newTrainEnv(t)
	_, err := e.c.Logs(context.Background(), trainID, "nope")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no job")

	_, err = e.c.Logs(context.Background(), trainID, "../code")
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
}

func TestTrainRefusesAJobIDAlreadyUsed(t *testing.T) {
	e := newTrainEnv(t)
	e.placeCode(t, map[string]string{"ok.sh": "echo first\n", "fail.sh": "sleep 0.3; echo second; exit 5\n"})
	_, err := e.c.Train(context.Background(), trainID, "ok.sh", WithoutSync(), WithJobID("j1"))
	require.NoError(t, err)

	// Reusing the directory would show the first job's exit code as the
	// second's: a failing script reported as success.
	res, err := e.c.Train(context.Background(), trainID, "fail.sh", WithoutSync(), WithJobID("j1"))
	assert.Nil(t, res)
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Contains(t, err.Error(), "already")
	assert.Len(t, e.sh.Scripts("echo started"), 1, "the second job is not started")
}

func TestTrainShipsCodeOnlyWhenItChanged(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	var logBuf bytes.Buffer
	s3f := newFileS3(t)
	e := newTrainEnv(t, WithS3(s3f), WithS3Presigner(s3f), WithBucket("code-bucket"),
		WithLogger(slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	dir := t.TempDir()
	for name, body := range map[string]string{
		"train.sh": "echo \"hello from $(cat data.txt)\"; ls -A | sort | tr '\\n' ' '; echo\n",
		"data.txt": "v1", ".gitignore": "*.log\n", "debug.log": "noise", ".env": "SECRET=1",
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	train := func() string {
		t.Helper()
		from := len(eventsOf[LogOutput](e.logs))
		_, err := e.c.Train(context.Background(), trainID, "train.sh", WithCodeDir(dir))
		require.NoError(t, err)
		return e.logText(t, from)
	}

	assert.Equal(t, "hello from v1\n.gitignore data.txt train.sh \n", train())
	require.Len(t, s3f.Puts(), 1)
	assert.Regexp(t, `^runctl/code/[0-9a-f]{64}\.tar\.gz$`, s3f.Puts()[0])
	notes := eventsOf[SyncNote](e.rec)
	require.NotEmpty(t, notes)
	assert.Contains(t, notes[0].Message, ".env")

	assert.Equal(t, "hello from v1\n.gitignore data.txt train.sh \n", train())
	assert.Len(t, s3f.Puts(), 1, "unchanged code is not uploaded again")
	progress := eventsOf[SyncProgress](e.rec)
	assert.True(t, progress[len(progress)-1].Skipped)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "data.txt"), []byte("v2"), 0o644))
	assert.Equal(t, "hello from v2\n.gitignore data.txt train.sh \n", train())
	assert.Len(t, s3f.Puts(), 2)

	assert.NotContains(t, logBuf.String(), fakeSignature, "a presigned URL reached the log")
	assert.NotContains(t, fmt.Sprint(e.rec.events), fakeSignature, "a presigned URL reached an event")
	assert.Len(t, eventsOf[JobStarted](e.rec), 3)
}

func TestTrainSyncProblemsStopBeforeTheJob(t *testing.T) {
	for _, tc := range []struct {
		name   string
		bucket string
		script string
		want   string
	}{
		{"no bucket", "", "train.sh", "no S3 bucket"},
		{"script missing", "b", "missing.sh", "does not exist"},
		{"script ignored", "b", "skip.sh", "ignore rule"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("XDG_CACHE_HOME", t.TempDir())
			s3f := newFileS3(t)
			e := newTrainEnv(t, WithS3(s3f), WithS3Presigner(s3f), WithBucket(tc.bucket))
			dir := t.TempDir()
			for name, body := range map[string]string{"train.sh": "echo hi\n", "skip.sh": "echo no\n",
				".runctlignore": "skip.sh\n"} {
				require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
			}
			_, err := e.c.Train(context.Background(), trainID, tc.script, WithCodeDir(dir))

			var pe *PhaseError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, PhaseSync, pe.Phase)
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Contains(t, err.Error(), tc.want)
			assert.Empty(t, s3f.Puts())
			assert.Empty(t, e.sh.Scripts("echo started"))
		})
	}
}

func TestFollowEndsWhenTheRunnerIsKilled(t *testing.T) {
	env := newTestEnv(t)
	inst, err := env.c.CreateInstance(context.Background(), "t3.micro")
	require.NoError(t, err)
	polls := 0
	env.ssm.commandOutput = func(script string) (string, error) {
		polls++
		head := "job j1\nstatus running\nexit -\nsize 3\ntimes 1 0 1 2\nrunner dead\n"
		if polls == 1 {
			return head + "chunk 0 3\nb2sK\n", nil
		}
		return head + "chunk 3 0\n", nil
	}
	_, err = env.c.Follow(context.Background(), inst.ID, "j1")
	require.ErrorIs(t, err, errRunnerLost)
	assert.Equal(t, 2, polls, "a second sighting ends the follow, not an endless poll")
}
