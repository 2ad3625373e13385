package conformance

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// envMoto names a moto_server that is already running, such as the one
// .ci/run starts; the tests then start none of their own.
const envMoto = "RUNCTL_MOTO_ENDPOINT"

// motoStartLimit bounds how long a moto_server the tests start may take to
// answer: about two seconds on a quiet machine, over ten on a loaded one.
const motoStartLimit = 60 * time.Second

// moto is the test binary's one moto_server: found or started on first use,
// stopped by TestMain.
var moto struct {
	once sync.Once
	url  string
	skip string // why there is no moto, when there is none
	err  error  // why moto could not be used, when it should have been
	cmd  *exec.Cmd
	log  *os.File
}

// motoEndpoint returns the moto endpoint, starting moto_server on first use.
// It skips the test when no moto is available and fails it when one should
// be but does not answer.
func motoEndpoint(t *testing.T) string {
	t.Helper()
	moto.once.Do(findMoto)
	if moto.skip != "" {
		t.Skip(moto.skip)
	}
	if moto.err != nil {
		t.Fatal(moto.err)
	}
	return moto.url
}

// findMoto uses $RUNCTL_MOTO_ENDPOINT, else starts moto_server from PATH.
func findMoto() {
	if ep := os.Getenv(envMoto); ep != "" {
		if err := checkLoopbackURL(ep); err != nil {
			moto.err = err
			return
		}
		moto.url = ep
		moto.err = waitMoto(ep, motoStartLimit)
		return
	}
	path, err := exec.LookPath("moto_server")
	if err != nil {
		moto.skip = "moto_server is not on PATH and " + envMoto + " is not set: " +
			"install it with `pip install 'moto[server]>=5'` to run the moto half of this suite"
		return
	}
	moto.err = startMoto(path)
}

// checkLoopbackURL refuses an endpoint off this machine: the suite must
// never send a request anywhere else.
func checkLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s=%q: %w", envMoto, raw, err)
	}
	ip := net.ParseIP(u.Hostname())
	if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%s=%q is not a loopback address; the suite talks to loopback only",
			envMoto, raw)
	}
	return nil
}

// startMoto runs moto_server on a free loopback port and waits until it
// answers. AWS managed policies are loaded so the IAM body can attach the
// SSM policy, as an account in AWS can.
func startMoto(path string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	log, err := os.CreateTemp("", "runctl-conformance-moto-*.log")
	if err != nil {
		return fmt.Errorf("creating moto log: %w", err)
	}
	cmd := exec.Command(path, "-H", "127.0.0.1", "-p", port)
	cmd.Env = append(os.Environ(), "MOTO_IAM_LOAD_MANAGED_POLICIES=true")
	cmd.Stdout, cmd.Stderr = log, log
	// If the test binary dies without running TestMain's cleanup, the kernel
	// ends moto too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		os.Remove(log.Name())
		return fmt.Errorf("starting moto_server: %w", err)
	}
	moto.cmd, moto.log = cmd, log
	moto.url = "http://127.0.0.1:" + port
	if err := waitMoto(moto.url, motoStartLimit); err != nil {
		out, _ := os.ReadFile(log.Name())
		return fmt.Errorf("%w; moto_server said:\n%s", err, out)
	}
	return nil
}

// freePort asks the kernel for an unused loopback port.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	return port, err
}

// waitMoto polls moto's own API until it answers 200, for at most max.
func waitMoto(endpoint string, max time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), max)
	defer cancel()
	for {
		if motoAnswers(ctx, endpoint) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("moto_server at %s did not answer within %v", endpoint, max)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func motoAnswers(ctx context.Context, endpoint string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/moto-api/", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// stopMoto stops the moto_server the tests started, by its PID: SIGTERM,
// then SIGKILL if it has not gone within two seconds.
func stopMoto() {
	if moto.cmd == nil {
		return
	}
	done := make(chan struct{})
	go func() { moto.cmd.Wait(); close(done) }()
	moto.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		moto.cmd.Process.Kill()
		<-done
	}
	moto.log.Close()
	os.Remove(moto.log.Name())
}
