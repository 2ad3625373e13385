package training_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scriptTimeout bounds one run of train.py; a normal run takes well under a
// second, so hitting it means the script hung.
const scriptTimeout = 60 * time.Second

var finalAccRE = regexp.MustCompile(`(?m)^final test_acc=([0-9.]+)$`)

// result is what one run of train.py left behind.
type result struct {
	stdout, stderr string
	code           int
}

func TestTrainPrintsEpochsAndAccuracy(t *testing.T) {
	py := python(t)
	out := t.TempDir()

	// Run from an unrelated directory: the script must find its data itself.
	r := runScript(t, py, t.TempDir(), nil, "--epochs", "2", "--output-dir", out)

	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	assert.Equal(t, []string{"epoch 1/2", "epoch 2/2"}, epochLines(r.stdout))
	assert.Regexp(t, `(?m)^epoch 1/2 loss=\d+\.\d{4} train_acc=\d\.\d{3} `+
		`test_acc=\d\.\d{3} time=\d+\.\ds$`, r.stdout)
	assert.Greater(t, finalAccuracy(t, r.stdout), 0.85)
	assert.Equal(t, 2, checkpointEpoch(t, out))
	assert.Equal(t, "completed", metricsStatus(t, out))
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"checkpoint.json", "metrics.json"}, names, "temp files left behind")
}

func TestTrainOutputDirDefaults(t *testing.T) {
	py := python(t)
	tests := []struct {
		name    string
		envDir  bool   // set RUNCTL_OUTPUT_DIR to a temp dir
		wantSub string // where the checkpoint lands, relative to the working dir
	}{
		{name: "RUNCTL_OUTPUT_DIR", envDir: true},
		{name: "./outputs", wantSub: "outputs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cwd, want := t.TempDir(), ""
			var env []string
			if tt.envDir {
				want = t.TempDir()
				env = []string{"RUNCTL_OUTPUT_DIR=" + want}
			} else {
				want = filepath.Join(cwd, tt.wantSub)
			}

			r := runScript(t, py, cwd, env, "--epochs", "1")

			require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
			assert.Equal(t, 1, checkpointEpoch(t, want))
		})
	}
}

func TestTrainResume(t *testing.T) {
	py := python(t)
	tests := []struct {
		name       string
		secondArgs []string
		wantEpochs []string
		wantResume bool
	}{
		{
			name:       "resumes by default",
			secondArgs: []string{"--epochs", "3"},
			wantEpochs: []string{"epoch 2/3", "epoch 3/3"},
			wantResume: true,
		},
		{
			name:       "no-resume starts over",
			secondArgs: []string{"--epochs", "3", "--no-resume"},
			wantEpochs: []string{"epoch 1/3", "epoch 2/3", "epoch 3/3"},
		},
		{
			name:       "nothing left to train",
			secondArgs: []string{"--epochs", "1"},
			wantResume: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			first := runScript(t, py, t.TempDir(), nil, "--epochs", "1", "--output-dir", out)
			require.Equal(t, 0, first.code, "stderr: %s", first.stderr)

			args := append([]string{"--output-dir", out}, tt.secondArgs...)
			r := runScript(t, py, t.TempDir(), nil, args...)

			require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
			assert.Equal(t, tt.wantResume, strings.Contains(r.stdout, "resumed from epoch 1\n"))
			assert.Equal(t, tt.wantEpochs, epochLines(r.stdout))
			assert.Greater(t, finalAccuracy(t, r.stdout), 0.85)
		})
	}
}

func TestTrainResumeMatchesUnbrokenRun(t *testing.T) {
	py := python(t)
	whole, split := t.TempDir(), t.TempDir()

	r := runScript(t, py, t.TempDir(), nil, "--epochs", "3", "--output-dir", whole)
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	r1 := runScript(t, py, t.TempDir(), nil, "--epochs", "1", "--output-dir", split)
	require.Equal(t, 0, r1.code, "stderr: %s", r1.stderr)
	r2 := runScript(t, py, t.TempDir(), nil, "--epochs", "3", "--output-dir", split)
	require.Equal(t, 0, r2.code, "stderr: %s", r2.stderr)

	// Shuffling is seeded per epoch, so the two paths train identically.
	assert.Equal(t, lastEpochLine(r.stdout), lastEpochLine(r2.stdout))
}

func TestTrainExitStatus(t *testing.T) {
	py := python(t)
	tests := []struct {
		name      string
		args      []string
		wantCode  int
		wantErr   string
		wantEpoch int // checkpoint epoch afterwards; -1 for no checkpoint
	}{
		{
			name:      "fail at epoch 1",
			args:      []string{"--epochs", "3", "--fail-at-epoch", "1"},
			wantCode:  3,
			wantErr:   "failing on purpose after epoch 1",
			wantEpoch: 1,
		},
		{
			name:      "zero epochs",
			args:      []string{"--epochs", "0"},
			wantCode:  2,
			wantErr:   "--epochs: must be at least 1",
			wantEpoch: -1,
		},
		{
			name:      "missing data",
			args:      []string{"--data", "no-such-file.csv.gz"},
			wantCode:  2,
			wantErr:   "data file no-such-file.csv.gz not found",
			wantEpoch: -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			args := append([]string{"--output-dir", out}, tt.args...)

			r := runScript(t, py, t.TempDir(), nil, args...)

			assert.Equal(t, tt.wantCode, r.code, "stdout: %s", r.stdout)
			assert.Contains(t, r.stderr, tt.wantErr)
			assert.NotContains(t, r.stdout, "final test_acc")
			if tt.wantEpoch < 0 {
				assert.NoFileExists(t, filepath.Join(out, "checkpoint.json"))
				return
			}
			assert.Equal(t, tt.wantEpoch, checkpointEpoch(t, out))
		})
	}
}

func TestTrainSIGTERMSavesCheckpoint(t *testing.T) {
	py := python(t)
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()

	// Each epoch sleeps a second, so the signal sent right after epoch 1's
	// line lands in the middle of epoch 2.
	cmd := scriptCommand(ctx, t, py, t.TempDir(), nil,
		"--epochs", "5", "--sleep-per-epoch", "1", "--output-dir", out)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())

	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var seen []string
	seen = waitForLine(t, lines, seen, "epoch 1/5 ")
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	for line := range lines {
		seen = append(seen, line)
	}
	err = cmd.Wait()

	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr, "stderr: %s", stderr.String())
	assert.Equal(t, 143, exitErr.ExitCode(), "the script must exit, not die of the signal")
	assert.Contains(t, seen, "received SIGTERM: checkpoint saved at epoch 1")
	assert.Equal(t, []string{"epoch 1/5"}, epochLines(strings.Join(seen, "\n")))
	assert.Equal(t, 1, checkpointEpoch(t, out))
	assert.Equal(t, "interrupted", metricsStatus(t, out))
}

// waitForLine reads lines until one starts with prefix, failing the test if
// the script ends or takes longer than scriptTimeout first.
func waitForLine(t *testing.T, lines <-chan string, seen []string, prefix string) []string {
	t.Helper()
	timeout := time.After(scriptTimeout)
	for {
		select {
		case line, ok := <-lines:
			require.True(t, ok, "script ended before %q; output:\n%s",
				prefix, strings.Join(seen, "\n"))
			seen = append(seen, line)
			if strings.HasPrefix(line, prefix) {
				return seen
			}
		case <-timeout:
			require.FailNow(t, "timed out waiting for "+prefix)
		}
	}
}

// python returns the path of python3, skipping the test when there is none.
func python(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not on PATH")
	}
	return py
}

// scriptCommand builds a command running train.py in dir, with env added
// to an environment that has no RUNCTL_OUTPUT_DIR of its own.
func scriptCommand(
	ctx context.Context,
	t *testing.T,
	py, dir string,
	env []string,
	args ...string,
) *exec.Cmd {
	t.Helper()
	script, err := filepath.Abs("train.py")
	require.NoError(t, err)
	cmd := exec.CommandContext(ctx, py, append([]string{script}, args...)...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RUNCTL_OUTPUT_DIR=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

// runScript runs train.py to completion and returns its output and status.
func runScript(t *testing.T, py, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	cmd := scriptCommand(ctx, t, py, dir, env, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr

	err := cmd.Run()

	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		r.code = exitErr.ExitCode()
	default:
		require.NoError(t, err)
	}
	require.NoError(t, ctx.Err(), "train.py timed out")
	return r
}

// epochLines returns the "epoch i/n" prefix of every epoch line in stdout.
func epochLines(stdout string) []string {
	var out []string
	for _, line := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(line, "epoch ") {
			out = append(out, strings.Fields(line)[0]+" "+strings.Fields(line)[1])
		}
	}
	return out
}

// lastEpochLine returns the last epoch line without its timing.
func lastEpochLine(stdout string) string {
	var last string
	for _, line := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(line, "epoch ") {
			last, _, _ = strings.Cut(line, " time=")
		}
	}
	return last
}

func finalAccuracy(t *testing.T, stdout string) float64 {
	t.Helper()
	m := finalAccRE.FindStringSubmatch(stdout)
	require.NotNil(t, m, "no final line in:\n%s", stdout)
	acc, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	return acc
}

func checkpointEpoch(t *testing.T, dir string) int {
	t.Helper()
	var ck struct {
		Epoch   *int        `json:"epoch"`
		Weights [][]float64 `json:"weights"`
	}
	readJSON(t, filepath.Join(dir, "checkpoint.json"), &ck)
	require.NotNil(t, ck.Epoch, "checkpoint has no epoch")
	require.Len(t, ck.Weights, 10, "checkpoint has no weights")
	return *ck.Epoch
}

func metricsStatus(t *testing.T, dir string) string {
	t.Helper()
	var m struct {
		Status string `json:"status"`
	}
	readJSON(t, filepath.Join(dir, "metrics.json"), &m)
	return m.Status
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, v), "%s", path)
}
