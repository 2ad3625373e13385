package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// EnvDir is the environment variable that overrides [DefaultDir].
const EnvDir = "RUNCTL_SANDBOX_DIR"

// DefaultBucket is the S3 bucket every sandbox has.
const DefaultBucket = "runctl-sandbox"

// Options configure a [Server]. The zero value serves us-east-1 from
// [DefaultDir] on a random loopback port.
type Options struct {
	// Dir is the state directory: instances, command results and S3
	// objects. Servers in several processes may share one. Empty means
	// [DefaultDir].
	Dir string
	// Addr is the listen address; it must be a loopback address, because
	// whoever reaches the server can run commands on this machine. Empty
	// means 127.0.0.1:0, a random port.
	Addr string
	// Region is the region served; empty means us-east-1.
	Region string
	// Faults are the failures to inject.
	Faults Faults
	// Fast makes boot, agent registration and shutdown take about no time,
	// for tests. Faults that set a delay still apply.
	Fast bool
	// KillOnClose makes Close terminate the instances this server launched
	// and kill their processes, detached jobs included, before it returns.
	KillOnClose bool
	// Logger receives a debug line per API call; nil discards.
	Logger *slog.Logger
}

// timings are the lifecycle durations a server uses, after defaults and
// faults are applied.
type timings struct {
	boot, ssm, shutdown time.Duration
	// hidden is how long a new command invocation answers
	// InvocationDoesNotExist; pending how long it then stays Pending.
	hidden, pending time.Duration
	tick            time.Duration
	// iamPropagation is how long a new or changed instance profile stays
	// unknown to EC2.
	iamPropagation time.Duration
}

func resolveTimings(o Options) timings {
	t := timings{boot: 300 * time.Millisecond, ssm: 300 * time.Millisecond,
		shutdown: 200 * time.Millisecond, hidden: 200 * time.Millisecond,
		pending: 200 * time.Millisecond, tick: 200 * time.Millisecond, iamPropagation: time.Second}
	if o.Fast {
		t = timings{hidden: 10 * time.Millisecond, tick: 50 * time.Millisecond}
	}
	if o.Faults.IAMPropagation > 0 {
		t.iamPropagation = o.Faults.IAMPropagation
	}
	if o.Faults.BootDelay > 0 {
		t.boot = o.Faults.BootDelay
	}
	if o.Faults.SSMDelay > 0 {
		t.ssm = o.Faults.SSMDelay
	}
	return t
}

// Server is a running sandbox: one HTTP listener on loopback that serves
// EC2, SSM, S3, STS, IAM, Pricing, Service Quotas and a per-instance IMDS. It is safe for
// concurrent use. The caller must Close it.
type Server struct {
	opts Options
	log  *slog.Logger
	st   *store
	t    timings
	url  string
	ln   net.Listener
	srv  *http.Server
	s3   http.Handler
	key  []byte // signs IMDS tokens; shared by every process on the dir

	mu       sync.Mutex
	throttle int
	live     map[string]*liveInvocation // by command ID + "/" + instance ID
	launched []string
	alive    map[string]time.Time // IMDS URLs of other servers seen answering

	// closing turns requests away once Close has begun; reqs counts the
	// requests being served, so Close can wait for the last of them.
	closing bool
	reqs    sync.WaitGroup

	stop      chan struct{}
	wg        sync.WaitGroup // the reconcile ticker and running commands
	closeOnce sync.Once
	closeErr  error
}

// Start creates the state directory if needed, listens, and serves until
// Close. ctx bounds the start only.
func Start(ctx context.Context, o Options) (*Server, error) {
	o, err := resolveOptions(o)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts: o, log: o.Logger, st: &store{dir: o.Dir}, t: resolveTimings(o),
		throttle: o.Faults.Throttle, live: map[string]*liveInvocation{},
		alive: map[string]time.Time{}, stop: make(chan struct{}),
	}
	if err := s.prepareDir(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("starting sandbox: %w", err)
	}
	if err := s.listen(ctx); err != nil {
		return nil, err
	}
	s.touchEndpoints(true)

	go s.serve()
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.tick() }()
	s.log.Info("sandbox started", "url", s.url, "dir", o.Dir, "region", o.Region,
		"faults", o.Faults.String())
	return s, nil
}

// URL returns the base endpoint, such as http://127.0.0.1:40123, for every
// service the server speaks.
func (s *Server) URL() string { return s.url }

// Dir returns the state directory.
func (s *Server) Dir() string { return s.opts.Dir }

// Region returns the region served.
func (s *Server) Region() string { return s.opts.Region }

// Env returns environment entries that point an AWS SDK or CLI at the
// server: endpoint, region, static fake credentials, and the real instance
// metadata service turned off.
func (s *Server) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + s.url,
		"AWS_REGION=" + s.opts.Region,
		"AWS_DEFAULT_REGION=" + s.opts.Region,
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// Close stops serving, cancels the commands this server is running and, with
// KillOnClose, terminates the instances it launched. Detached jobs of other
// instances keep running; their state stays in the directory. Close is
// idempotent.
//
// When Close returns, nothing this server started writes to the state
// directory any more: no request, reconcile or command of its own, and with
// KillOnClose no process of the instances it launched, so the caller may
// remove the directory at once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		err := s.stopServing()
		s.stopWork()
		if s.opts.KillOnClose {
			err = errors.Join(err, s.terminateLaunched())
		}
		s.closeErr = err
		s.log.Info("sandbox closed", "url", s.url)
	})
	return s.closeErr
}

// stopServing stops accepting requests and waits for those in flight, which
// may boot an instance or start a command. A request that outlives the
// grace period loses its connection but is still waited for.
func (s *Server) stopServing() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, s.srv.Close())
	}
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.reqs.Wait()
	return err
}

// stopWork stops the reconcile ticker and cancels the running commands,
// then waits for both: the ticker may be booting an instance, and a
// command may be recording its result.
func (s *Server) stopWork() {
	close(s.stop)
	s.cancelLive()
	s.wg.Wait()
}

// DefaultDir returns the state directory used when Options.Dir is empty:
// $RUNCTL_SANDBOX_DIR, else $XDG_STATE_HOME/runctl/sandbox, else
// ~/.local/state/runctl/sandbox.
func DefaultDir() string {
	if d := os.Getenv(EnvDir); d != "" {
		return d
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "runctl", "sandbox")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".local", "state", "runctl", "sandbox")
}

// resolveOptions fills defaults and refuses a listen address off loopback.
func resolveOptions(o Options) (Options, error) {
	if o.Dir == "" {
		o.Dir = DefaultDir()
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return o, fmt.Errorf("resolving sandbox dir: %w", err)
	}
	o.Dir = dir
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if err := checkLoopback(o.Addr); err != nil {
		return o, err
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("sandbox listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("sandbox listen address %q is not loopback: the sandbox runs "+
			"commands on this machine for whoever reaches it", addr)
	}
	return nil
}

// prepareDir creates the state directory layout, the IMDS token key and the
// S3 backend with its default bucket.
func (s *Server) prepareDir() error {
	for _, d := range []string{"instances", "commands", "s3"} {
		if err := os.MkdirAll(filepath.Join(s.opts.Dir, d), 0o700); err != nil {
			return fmt.Errorf("creating sandbox dir: %w", err)
		}
	}
	key, err := s.loadKey()
	if err != nil {
		return err
	}
	s.key = key
	s3h, err := newS3Handler(filepath.Join(s.opts.Dir, "s3"), s.opts.Region, s.log)
	if err != nil {
		return err
	}
	s.s3 = s3h
	return nil
}

func (s *Server) listen(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("sandbox listening on %s: %w", s.opts.Addr, err)
	}
	s.ln = ln
	s.url = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: http.HandlerFunc(s.route), ReadHeaderTimeout: 10 * time.Second}
	return nil
}

func (s *Server) serve() {
	if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Error("sandbox serve", "err", err)
	}
}

// tick reconciles instance state while the server runs, so lifecycle
// changes (boot, poweroff, spot interruption) happen without a request.
func (s *Server) tick() {
	t := time.NewTicker(s.t.tick)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := s.reconcile(); err != nil {
				s.log.Warn("sandbox reconcile", "err", err)
			}
			s.touchEndpoints(false)
		}
	}
}

// route sends a request to the service its signature names, unless the
// server is closing.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		writeJSONError(w, newRequestID(), errf(http.StatusServiceUnavailable,
			"ServiceUnavailable", "the sandbox is shutting down"))
		return
	}
	s.reqs.Add(1)
	s.mu.Unlock()
	defer s.reqs.Done()
	s.serveService(w, r)
}

func (s *Server) serveService(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, imdsPrefix) {
		s.serveIMDS(w, r)
		return
	}
	svc := serviceOf(r)
	if svc != "s3" {
		if err := s.reconcile(); err != nil {
			s.log.Warn("sandbox reconcile", "err", err)
		}
	}
	switch svc {
	case "ec2":
		s.serveEC2(w, r)
	case "ssm":
		s.serveSSM(w, r)
	case "pricing":
		s.servePricing(w, r)
	case "servicequotas":
		s.serveQuotas(w, r)
	case "sts", "iam":
		s.serveQuery(w, r, svc)
	case "s3":
		s.s3.ServeHTTP(w, r)
	default:
		id := newRequestID()
		writeJSONError(w, id, errf(http.StatusBadRequest, "UnknownService",
			"the sandbox does not serve %q", svc))
	}
}

// serviceOf names the service a request is for: from the JSON target, the
// SigV4 credential scope of the Authorization header, or the
// X-Amz-Credential parameter of a presigned URL. Anything else is S3, so a
// plain unsigned GET of an object works too.
func serviceOf(r *http.Request) string {
	target := r.Header.Get("X-Amz-Target")
	switch {
	case strings.HasPrefix(target, "AmazonSSM."):
		return "ssm"
	case strings.HasPrefix(target, "AWSPriceListService."):
		return "pricing"
	case strings.HasPrefix(target, quotasTarget):
		return "servicequotas"
	}
	if svc := scopeService(r.Header.Get("Authorization")); svc != "" {
		return svc
	}
	if svc := scopeService("Credential=" + r.URL.Query().Get("X-Amz-Credential")); svc != "" {
		return svc
	}
	return "s3"
}

// scopeService extracts SERVICE from Credential=AKID/date/region/SERVICE/aws4_request.
func scopeService(auth string) string {
	_, cred, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return ""
	}
	cred, _, _ = strings.Cut(cred, ",")
	parts := strings.Split(strings.TrimSpace(cred), "/")
	if len(parts) != 5 {
		return ""
	}
	return parts[3]
}

// takeThrottle reports whether this call is one of the throttled ones.
func (s *Server) takeThrottle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.throttle <= 0 {
		return false
	}
	s.throttle--
	return true
}
