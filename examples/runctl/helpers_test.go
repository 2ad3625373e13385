package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/runctl/runctl/sandbox"
)

// binDir holds the runctl binary the subprocess tests run, built once.
var (
	binDir   string
	binOnce  sync.Once
	binErr   error
	binBuild []byte
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "runctl-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// runctlBin returns the path of a runctl binary built from this package.
func runctlBin(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, "runctl"), ".")
		binBuild, binErr = cmd.CombinedOutput()
	})
	require.NoError(t, binErr, "go build:\n%s", binBuild)
	return filepath.Join(binDir, "runctl")
}

// repoRoot is the module root, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(root, "go.mod"))
	return root
}

func trainingDir(t *testing.T) string {
	return filepath.Join(repoRoot(t), "examples", "training")
}

// hermeticVars keeps runctl away from real AWS: fake static credentials, no
// shared config files, no instance metadata, the sandbox state in dir, and
// an endpoint on a closed loopback port, so a command that misses
// --sandbox fails at once instead of reaching for AWS.
func hermeticVars(t *testing.T, stateDir string) map[string]string {
	missing := filepath.Join(t.TempDir(), "no-such-file")
	return map[string]string{
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_ACCESS_KEY_ID":           "test",
		"AWS_SECRET_ACCESS_KEY":       "test",
		"AWS_SESSION_TOKEN":           "",
		"AWS_PROFILE":                 "",
		"AWS_ENDPOINT_URL":            "http://127.0.0.1:1",
		"AWS_REGION":                  "us-east-1",
		"AWS_CONFIG_FILE":             missing,
		"AWS_SHARED_CREDENTIALS_FILE": missing,
		sandbox.EnvDir:                stateDir,
		sandbox.EnvFaults:             "",
		"RUNCTL_SANDBOX":              "",
		"RUNCTL_BUCKET":               "",
	}
}

// sandboxDir returns a new sandbox state directory whose instances are
// terminated when the test ends, should the test leave any running.
func sandboxDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Cleanup(func() { terminateLeftovers(t, dir) })
	return dir
}

// hermetic sets the hermetic environment for in-process runs and returns
// the sandbox state directory. Tests that call it cannot run in parallel.
func hermetic(t *testing.T) string {
	t.Helper()
	dir := sandboxDir(t)
	for k, v := range hermeticVars(t, dir) {
		t.Setenv(k, v)
	}
	return dir
}

// procEnv is the environment of a subprocess: this process's, without any
// AWS or runctl setting, then the hermetic one, then extra ("K=V").
func procEnv(t *testing.T, stateDir string, extra ...string) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "RUNCTL_") {
			env = append(env, kv)
		}
	}
	for k, v := range hermeticVars(t, stateDir) {
		env = append(env, k+"="+v)
	}
	return append(env, extra...)
}

// result is what one runctl invocation did.
type result struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("exit %d after %s\n--- stdout:\n%s--- stderr:\n%s", r.code, r.took, r.stdout, r.stderr)
}

// cli runs the command line in this process, as main would.
func cli(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := run(ctx, args, &stdout, &stderr)
	return result{code, stdout.String(), stderr.String(), time.Since(start)}
}

// proc runs the built binary in dir with env.
func proc(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	bin := runctlBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Env = dir, env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	res := result{cmd.ProcessState.ExitCode(), stdout.String(), stderr.String(), time.Since(start)}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running runctl %q: %v\n%s", args, err, res)
	}
	return res
}

// watcher is a process's output stream: it keeps what was written and
// closes found once the text holds want. Set it as cmd.Stdout or
// cmd.Stderr, so cmd.Wait returns only after every byte reached it.
type watcher struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	want  []byte
	found chan struct{}
	once  sync.Once
}

func watch(want string) *watcher {
	return &watcher{want: []byte(want), found: make(chan struct{})}
}

func (w *watcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if len(w.want) > 0 && bytes.Contains(w.buf.Bytes(), w.want) {
		w.once.Do(func() { close(w.found) })
	}
	return len(p), nil
}

func (w *watcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// inspector is a sandbox server on a state directory that other processes
// use, for looking at instances and for raw SDK calls.
type inspector struct {
	srv *sandbox.Server
	cfg aws.Config
}

func inspect(t *testing.T, dir string) *inspector {
	t.Helper()
	srv, err := sandbox.Start(context.Background(), sandbox.Options{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	cfg := aws.Config{Region: srv.Region(),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	return &inspector{srv: srv, cfg: cfg}
}

func (in *inspector) ec2() *ec2.Client {
	return ec2.NewFromConfig(in.cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(in.srv.URL()) })
}

func (in *inspector) ssm() *ssm.Client {
	return ssm.NewFromConfig(in.cfg, func(o *ssm.Options) { o.BaseEndpoint = aws.String(in.srv.URL()) })
}

func (in *inspector) createBucket(t *testing.T, name string) {
	t.Helper()
	c := s3.NewFromConfig(in.cfg, func(o *s3.Options) {
		o.BaseEndpoint, o.UsePathStyle = aws.String(in.srv.URL()), true
	})
	_, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)})
	require.NoError(t, err, "creating bucket %s", name)
}

// live lists the instances that are not terminated, with their state.
func (in *inspector) live(t *testing.T) []string {
	t.Helper()
	insts, err := in.srv.Live()
	require.NoError(t, err)
	var out []string
	for _, i := range insts {
		out = append(out, i.ID+" "+i.State)
	}
	return out
}

// count returns how many instances were ever launched in the directory.
func (in *inspector) count(t *testing.T) int {
	t.Helper()
	insts, err := in.srv.Instances()
	require.NoError(t, err)
	return len(insts)
}

// assertNothingRunning checks that every instance in dir is terminated and
// that none of them left a process behind.
func assertNothingRunning(t *testing.T, dir string) {
	t.Helper()
	in := inspect(t, dir)
	assert.Empty(t, in.live(t), "instances left running")
	insts, err := in.srv.Instances()
	require.NoError(t, err)
	for _, i := range insts {
		assert.Eventually(t, func() bool { return len(in.srv.Processes(i.ID)) == 0 },
			2*time.Second, 50*time.Millisecond, "processes of %s still alive", i.ID)
	}
}

// terminateLeftovers ends whatever a failed test left running, so no job
// outlives the test.
func terminateLeftovers(t *testing.T, dir string) {
	srv, err := sandbox.Start(context.Background(), sandbox.Options{Dir: dir})
	if err != nil {
		return
	}
	defer srv.Close()
	in := &inspector{srv: srv, cfg: aws.Config{Region: srv.Region(),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}}
	insts, err := srv.Live()
	if err != nil {
		return
	}
	var ids []string
	for _, i := range insts {
		ids = append(ids, i.ID)
	}
	if len(ids) == 0 {
		return
	}
	t.Logf("terminating instances the test left running: %v", ids)
	_, _ = in.ec2().TerminateInstances(context.Background(), &ec2.TerminateInstancesInput{InstanceIds: ids})
}
