package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/runctl/runctl"
)

// oneJSON decodes stdout as exactly one JSON document.
func oneJSON(t *testing.T, stdout string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	require.NoError(t, dec.Decode(v), "stdout is JSON:\n%s", stdout)
	var extra json.RawMessage
	assert.ErrorIs(t, dec.Decode(&extra), io.EOF, "stdout holds one JSON document:\n%s", stdout)
}

// TestOutputContract walks an instance through create, train, status, logs,
// list and terminate in this process, checking that stdout carries only the
// answer (the ID, one JSON document, the result) and stderr the rest.
func TestOutputContract(t *testing.T) {
	dir := hermetic(t)
	code := trainingDir(t)

	created := cli(t, "--sandbox", "--output", "instance-id", "aws", "create", "t3.micro", "--spot")
	require.Equal(t, 0, created.code, "%s", created)
	require.Regexp(t, `^i-[0-9a-f]{8,17}\n$`, created.stdout, "exactly the ID and a newline")
	id := strings.TrimSuffix(created.stdout, "\n")
	assert.Contains(t, created.stderr, "launched "+id+": spot t3.micro")

	var job resultView
	trained := cli(t, "--sandbox", "--output", "json", "aws", "train", id, "train.py", "--code-dir", code,
		"--", "--epochs", "2")
	require.Equal(t, 0, trained.code, "%s", trained)
	oneJSON(t, trained.stdout, &job)
	require.NotNil(t, job.ExitCode)
	assert.Equal(t, 0, *job.ExitCode)
	assert.Equal(t, id, job.InstanceID)
	assert.Equal(t, "train.py", job.Script)
	assert.Equal(t, []string{"--epochs", "2"}, job.Args)
	assert.Equal(t, "spot", job.Market)
	assert.NotNil(t, job.CostUSD)
	assert.Regexp(t, `(?m)^epoch 2/2 loss=`, trained.stderr, "the script's output goes to stderr")
	assert.Regexp(t, `(?m)^code shipped`, trained.stderr)

	var status struct {
		Instance instanceView `json:"instance"`
		Job      resultView   `json:"job"`
	}
	st := cli(t, "--sandbox", "--output", "json", "aws", "status", id)
	require.Equal(t, 0, st.code, "%s", st)
	oneJSON(t, st.stdout, &status)
	assert.Equal(t, id, status.Instance.ID)
	assert.Equal(t, "running", status.Instance.State)
	assert.Equal(t, job.JobID, status.Job.JobID)
	if assert.NotNil(t, status.Job.ExitCode) {
		assert.Equal(t, 0, *status.Job.ExitCode)
	}

	logs := cli(t, "--sandbox", "aws", "logs", id)
	require.Equal(t, 0, logs.code, "%s", logs)
	assert.Regexp(t, `(?m)^epoch 1/2 loss=.*\n^epoch 2/2 loss=.*\n^final test_acc=`, logs.stdout,
		"logs prints the job's output on stdout, in order")

	var list []instanceView
	listed := cli(t, "--sandbox", "--output", "json", "aws", "list")
	require.Equal(t, 0, listed.code, "%s", listed)
	oneJSON(t, listed.stdout, &list)
	require.Len(t, list, 1)
	assert.Equal(t, id, list[0].ID)

	term := cli(t, "--sandbox", "aws", "terminate", id)
	require.Equal(t, 0, term.code, "%s", term)
	assert.Empty(t, term.stdout)
	assert.Regexp(t, `(?m)^terminated `+id+`$`, term.stderr)

	listed = cli(t, "--sandbox", "--output", "json", "aws", "list")
	require.Equal(t, 0, listed.code, "%s", listed)
	oneJSON(t, listed.stdout, &list)
	assert.Empty(t, list)
	assert.Equal(t, "no runctl instances are running\n", cli(t, "--sandbox", "aws", "list").stdout)
	assertNothingRunning(t, dir)
}

// TestOutputOfRun checks aws run's stdout in JSON, on success and on a
// failed script; TestREADMEFirstCommand checks it in text.
func TestOutputOfRun(t *testing.T) {
	dir := hermetic(t)
	code := trainingDir(t)
	tests := []struct {
		name string
		args []string
		exit int
	}{
		{"success", []string{"--epochs", "1"}, 0},
		{"a failed script", []string{"--epochs", "2", "--fail-at-epoch", "1"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--sandbox", "--output", "json", "aws", "run", "t3.micro", "train.py",
				"--code-dir", code, "--"}, tt.args...)
			res := cli(t, args...)
			require.Equal(t, tt.exit, res.code, "%s", res)
			assert.Regexp(t, `(?m)^epoch 1/\d loss=`, res.stderr)
			assert.Regexp(t, `(?m)^terminated i-\w+$`, res.stderr)
			var v resultView
			oneJSON(t, res.stdout, &v)
			require.NotNil(t, v.ExitCode)
			assert.Equal(t, tt.exit, *v.ExitCode)
		})
	}
	assertNothingRunning(t, dir)
}

// TestOutputOnFailure: a create that fails prints nothing on stdout, so
// ID=$(runctl ... --output instance-id) stays empty, and says why on stderr.
func TestOutputOnFailure(t *testing.T) {
	hermetic(t)
	t.Setenv("RUNCTL_SANDBOX_FAULTS", "ondemand-quota")
	for _, output := range []string{"instance-id", "json", "text"} {
		t.Run(output, func(t *testing.T) {
			res := cli(t, "--sandbox", "--output", output, "aws", "create", "t3.micro")
			assert.Equal(t, exitCapacity, res.code, "%s", res)
			assert.Empty(t, res.stdout)
			assert.Contains(t, res.stderr, "runctl: error: ")
		})
	}
}

// TestJSONOutputOfEveryCommand: every command that answers prints one JSON
// document on stdout with --output json.
func TestJSONOutputOfEveryCommand(t *testing.T) {
	hermetic(t)
	tests := []struct {
		name string
		args []string
	}{
		{"list", []string{"aws", "list"}},
		{"doctor", []string{"aws", "doctor", "t3.micro"}},
		{"prices", []string{"prices", "t3.micro"}},
		{"setup", []string{"--bucket", "runctl-sandbox", "aws", "setup"}},
		{"gc", []string{"aws", "gc"}},
		{"dry run", []string{"aws", "train", "i-0123456789abcdef0", "train.py", "--code-dir", trainingDir(t),
			"--dry-run"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := cli(t, append([]string{"--sandbox", "--output", "json"}, tt.args...)...)
			require.Equal(t, 0, res.code, "%s", res)
			var v any
			oneJSON(t, res.stdout, &v)
		})
	}
}

// TestDetachedJobFollowedFromAnotherCommand starts a job without waiting,
// then follows it with logs --follow, whose exit status is the script's.
func TestDetachedJobFollowedFromAnotherCommand(t *testing.T) {
	dir := hermetic(t)
	created := cli(t, "--sandbox", "--output", "instance-id", "aws", "create", "t3.micro")
	require.Equal(t, 0, created.code, "%s", created)
	id := strings.TrimSuffix(created.stdout, "\n")
	defer cli(t, "--sandbox", "aws", "terminate", id)

	started := cli(t, "--sandbox", "aws", "train", id, "train.py", "--code-dir", trainingDir(t), "--wait=false",
		"--", "--epochs", "2", "--fail-at-epoch", "2")
	require.Equal(t, 0, started.code, "%s", started)
	assert.Regexp(t, `^job \S+ started on `+id+`; follow it with: runctl aws logs `+id+` --follow\n$`, started.stdout)

	followed := cli(t, "--sandbox", "aws", "logs", id, "--follow")
	assert.Equal(t, 3, followed.code, "%s", followed)
	assert.Regexp(t, `(?m)^epoch 2/2 loss=`, followed.stdout)
	assert.Contains(t, followed.stdout, "failing on purpose after epoch 2")

	st := cli(t, "--sandbox", "aws", "status", id)
	require.Equal(t, 0, st.code, "%s", st)
	assert.Regexp(t, `(?m)^instance `+id+`: running, on-demand t3\.micro`, st.stdout)
	assert.Regexp(t, `(?m)^job \S+: exited with code 3, `, st.stdout)

	term := cli(t, "--sandbox", "aws", "terminate", id)
	assert.Equal(t, 0, term.code, "%s", term)
	assertNothingRunning(t, dir)
}

// TestPrinterInAPipe: waits print plain lines at most every few seconds,
// with no terminal escapes; the cost warning stands out in words.
func TestPrinterInAPipe(t *testing.T) {
	var buf bytes.Buffer
	p := newPrinter(&buf)
	require.False(t, p.tty)
	ctx := context.Background()
	for i := range 20 {
		p.handle(ctx, runctl.WaitProgress{Phase: runctl.PhaseWaitSSM, State: "agent offline",
			Elapsed: time.Duration(i) * 100 * time.Millisecond, Limit: time.Minute})
	}
	p.handle(ctx, runctl.CostWarning{Message: "on-demand costs about 3.4x more"})
	p.handle(ctx, runctl.LogOutput{Data: []byte("epoch 1/1\n")})

	assert.Equal(t, "waiting for the SSM agent: agent offline, 0s of 1m0s\n"+
		"COST WARNING: on-demand costs about 3.4x more\n"+
		"epoch 1/1\n", buf.String())
	assert.NotContains(t, buf.String(), "\x1b")
}

// TestPrinterOnATerminal: waits redraw one live line, which is cleared
// before any other line; the cost warning is coloured.
func TestPrinterOnATerminal(t *testing.T) {
	var buf bytes.Buffer
	p := newPrinter(&buf)
	p.tty = true
	ctx := context.Background()
	p.handle(ctx, runctl.WaitProgress{Phase: runctl.PhaseWaitRunning, State: "pending", Limit: time.Minute})
	p.handle(ctx, runctl.WaitProgress{Phase: runctl.PhaseWaitRunning, State: "pending",
		Elapsed: 2 * time.Second, Limit: time.Minute})
	p.handle(ctx, runctl.CostWarning{Message: "about 3.4x more"})
	p.handle(ctx, runctl.LogOutput{Data: []byte("epoch 1/1\n")})

	out := buf.String()
	assert.Equal(t, 2, strings.Count(out, "\r\x1b[Kwaiting for the instance to run: pending"), "redrawn in place")
	assert.Regexp(t, regexp.QuoteMeta("2s of 1m0s\r\x1b[K\x1b[1;33mCOST WARNING: about 3.4x more\x1b[0m\n"), out)
	assert.True(t, strings.HasSuffix(out, "\x1b[0m\nepoch 1/1\n"), "%q", out)
}
