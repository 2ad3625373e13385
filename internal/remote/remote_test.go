package remote

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hostile arguments that have broken other launchers' quoting.
var hostile = []string{
	"plain", "two words", "it's", `"double"`, "$HOME", "$(touch pwned)", "`touch pwned`",
	"line1\nline2", "trailing newline\n", "\n", "", "--leading-dash", "-e", "ünïcödé ✓ 日本",
	`back\slash`, "tab\there", "*", "a;b|c&d", "'; rm -rf / #", "%s%n",
}

func TestQuoteRoundTripsThroughBash(t *testing.T) {
	for _, arg := range hostile {
		out, err := exec.Command("bash", "-c", "printf %s "+Quote(arg)).Output()
		require.NoError(t, err, "%q", arg)
		assert.Equal(t, arg, string(out))
	}
}

// runJob runs StartCommand for a script in a temporary RUNCTL_HOME, waits
// for the job's exit code and returns its directory.
func runJob(t *testing.T, script string, body string, args []string) string {
	t.Helper()
	home := t.TempDir()
	code := filepath.Join(home, "code", "abc")
	require.NoError(t, os.MkdirAll(code, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(code, script), []byte(body), 0o755))
	require.NoError(t, os.Symlink(code, filepath.Join(home, "code", "latest")))

	cmd := exec.Command("bash", "-c", StartCommand(Job{ID: "j1", Script: script, Args: args}))
	cmd.Env = append(os.Environ(), "RUNCTL_HOME="+home, "RUNCTL_DETACH=setsid")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Contains(t, string(out), "started")

	dir := filepath.Join(home, "jobs", "j1")
	require.Eventually(t, func() bool {
		_, err := os.Stat(filepath.Join(dir, "exit_code"))
		return err == nil
	}, 10*time.Second, 10*time.Millisecond)
	return dir
}

func TestArgumentsReachTheScriptByteForByte(t *testing.T) {
	// The script writes each argument NUL-terminated, so any byte but NUL
	// can be compared.
	dir := runJob(t, "show.sh", "for a in \"$@\"; do printf '%s\\0' \"$a\"; done > args.out\n", hostile)
	got, err := os.ReadFile(filepath.Join(dir, "code", "args.out"))
	require.NoError(t, err)
	want := strings.Join(hostile, "\x00") + "\x00"
	assert.Equal(t, want, string(got))
	_, err = os.Stat(filepath.Join(dir, "code", "pwned"))
	assert.True(t, os.IsNotExist(err), "no argument may run as a command")
}

func TestExitCodeIsRecorded(t *testing.T) {
	dir := runJob(t, "fail.sh", "echo about to fail; exit 3\n", nil)
	code, err := os.ReadFile(filepath.Join(dir, "exit_code"))
	require.NoError(t, err)
	assert.Equal(t, "3\n", string(code))
	status, _ := os.ReadFile(filepath.Join(dir, "status"))
	assert.Equal(t, "exited\n", string(status))

	home := filepath.Dir(filepath.Dir(dir))
	cmd := exec.Command("bash", "-c", PollCommand("latest", 0, MaxChunk, false))
	cmd.Env = append(os.Environ(), "RUNCTL_HOME="+home)
	out, err := cmd.Output()
	require.NoError(t, err)
	st, err := ParsePoll(string(out))
	require.NoError(t, err)
	assert.Equal(t, "j1", st.JobID)
	assert.Equal(t, 3, st.ExitCode)
	assert.Equal(t, "about to fail\n", string(st.Chunk))
	assert.Equal(t, int64(len("about to fail\n")), st.LogSize)
}

func TestPollReadsEveryByteInChunks(t *testing.T) {
	dir := runJob(t, "lines.sh", "for i in $(seq 1 5000); do echo \"line $i\"; done\n", nil)
	home := filepath.Dir(filepath.Dir(dir))
	var got []byte
	for polls := 0; polls < 1000; polls++ {
		cmd := exec.Command("bash", "-c", PollCommand("j1", int64(len(got)), 1000, false))
		cmd.Env = append(os.Environ(), "RUNCTL_HOME="+home)
		out, err := cmd.Output()
		require.NoError(t, err)
		st, err := ParsePoll(string(out))
		require.NoError(t, err)
		assert.LessOrEqual(t, len(st.Chunk), 1000)
		got = append(got, st.Chunk...)
		if st.ExitKnown() && int64(len(got)) >= st.LogSize {
			break
		}
	}
	want, err := os.ReadFile(filepath.Join(dir, "log"))
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))
	assert.True(t, strings.HasSuffix(string(got), "line 5000\n"))
}

func TestParsePollRejectsShortOutput(t *testing.T) {
	full := "job j1\nstatus exited\nexit 0\nsize 10\ntimes 1 2 3 4\nrunner dead\nchunk 0 10\nMDEyMzQ1Njc4OQ==\n"
	st, err := ParsePoll(full)
	require.NoError(t, err)
	assert.Equal(t, "0123456789", string(st.Chunk))

	for _, cut := range []string{
		"job j1\nstatus exited\nexit 0\nsize 10\n",                                                // no chunk line
		"job j1\nstatus exited\nexit 0\nsize 10\nchunk 0 10\n",                                    // no data
		"job j1\nstatus exited\nexit 0\nsize 10\nchunk 0 10\nMDEyMzQ=",                            // short data
		"exit 0\nchunk 0 0\n",                                                                     // no size, times or runner
		"job j1\nstatus exited\nexit 0\nexit 1\nsize 10\ntimes 1 2 3 4\nrunner dead\nchunk 0 0\n", // twice
	} {
		_, err := ParsePoll(cut)
		assert.Error(t, err, "%q", cut)
	}
	st, err = ParsePoll("nojob\n")
	require.NoError(t, err)
	assert.False(t, st.Found)
}

func TestBootScriptIsValidBash(t *testing.T) {
	script := BootScript(2 * time.Hour)
	out, err := exec.Command("bash", "-n", "-c", string(script)).CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Contains(t, string(script), "RUNCTL_MAX_LIFETIME=7200")
	for _, s := range [][]byte{watchdogScript, jobScript} {
		out, err := exec.Command("bash", "-n", "-c", string(s)).CombinedOutput()
		require.NoError(t, err, string(out))
	}
}

func TestRunnerKilledWithoutExitCodeIsSeen(t *testing.T) {
	home := t.TempDir()
	dir := filepath.Join(home, "jobs", "j1")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	// A pid that cannot be alive: the runner is gone and wrote no exit code.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pid"), []byte("999999999\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "status"), []byte("running\n"), 0o644))
	cmd := exec.Command("bash", "-c", PollCommand("j1", 0, MaxChunk, false))
	cmd.Env = append(os.Environ(), "RUNCTL_HOME="+home)
	out, err := cmd.Output()
	require.NoError(t, err)
	st, err := ParsePoll(string(out))
	require.NoError(t, err)
	assert.True(t, st.RunnerLost())

	require.NoError(t, os.WriteFile(filepath.Join(dir, "pid"), []byte(fmt.Sprint(os.Getpid())), 0o644))
	cmd = exec.Command("bash", "-c", PollCommand("j1", 0, MaxChunk, false))
	cmd.Env = append(os.Environ(), "RUNCTL_HOME="+home)
	out, err = cmd.Output()
	require.NoError(t, err)
	st, err = ParsePoll(string(out))
	require.NoError(t, err)
	assert.False(t, st.RunnerLost())
	assert.Equal(t, "alive", st.Runner)
}

func TestReusedJobIDIsRefused(t *testing.T) {
	home := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(home, "jobs", "j1"), 0o755))
	cmd := exec.Command("bash", "-c", StartCommand(Job{ID: "j1", Script: "x.sh"}))
	cmd.Env = append(os.Environ(), "RUNCTL_HOME="+home)
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "already exists")
}

func TestRepeatedDeliveryOfTheSameStartIsHarmless(t *testing.T) {
	home := t.TempDir()
	code := filepath.Join(home, "code", "abc")
	require.NoError(t, os.MkdirAll(code, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(code, "x.sh"), []byte("echo once\n"), 0o755))
	require.NoError(t, os.Symlink(code, filepath.Join(home, "code", "latest")))
	start := func(token string) (string, error) {
		cmd := exec.Command("bash", "-c", StartCommand(Job{ID: "j1", Script: "x.sh", Token: token}))
		cmd.Env = append(os.Environ(), "RUNCTL_HOME="+home, "RUNCTL_DETACH=setsid")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := start("t1")
	require.NoError(t, err, out)
	out, err = start("t1")
	require.NoError(t, err, "a retried SendCommand of the same start is not an error: %s", out)
	assert.Contains(t, out, "started")
	out, err = start("t2")
	require.Error(t, err, "another start with the same job ID is refused")
	assert.Contains(t, out, "already exists")
	require.Eventually(t, func() bool {
		_, err := os.Stat(filepath.Join(home, "jobs", "j1", "exit_code"))
		return err == nil
	}, 5*time.Second, 10*time.Millisecond)
	b, err := os.ReadFile(filepath.Join(home, "jobs", "j1", "log"))
	require.NoError(t, err)
	assert.Equal(t, "once\n", string(b), "the job ran once")
}
