package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/runctl/runctl"
	"github.com/runctl/runctl/sandbox"
)

// StartSandbox starts a sandbox in fast mode over dir with the given fault
// list (see [sandbox.ParseFaults]). Closing it terminates what it launched.
func StartSandbox(ctx context.Context, dir, faults string) (*sandbox.Server, error) {
	f, err := sandbox.ParseFaults(faults)
	if err != nil {
		return nil, fmt.Errorf("parsing faults %q: %w", faults, err)
	}
	srv, err := sandbox.Start(ctx, sandbox.Options{Dir: dir, Fast: true, Faults: f, KillOnClose: true})
	if err != nil {
		return nil, fmt.Errorf("starting the sandbox: %w", err)
	}
	return srv, nil
}

// Wired is a runctl Client talking to a sandbox through the real SDK
// clients over HTTP, with every call it makes recorded.
type Wired struct {
	Client *runctl.Client
	Calls  *Recorder
	Events *Events
}

// ClientSpec says how to wire a client.
type ClientSpec struct {
	// PollMin, PollMax and FollowMax set the intervals; zero keeps the
	// library's defaults.
	PollMin, PollMax, FollowMax time.Duration
	// SSMLatency makes every command read as running for this long after
	// it was sent (see countingSSM).
	SSMLatency time.Duration
	// OnEvent, if set, sees every event after it is recorded.
	OnEvent func(context.Context, runctl.Event)
}

// NewClient returns a client wired to srv with static fake credentials and
// the sandbox's bucket.
func NewClient(ctx context.Context, srv *sandbox.Server, spec ClientSpec) (*Wired, error) {
	cfg := AWSConfig(srv.Region())
	endpoint := func(base **string) { *base = aws.String(srv.URL()) }
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { endpoint(&o.BaseEndpoint); o.UsePathStyle = true })
	w := &Wired{Calls: &Recorder{}, Events: &Events{}}
	w.Events.next = spec.OnEvent

	opts := []runctl.Option{
		runctl.WithAWSConfig(cfg),
		runctl.WithEndpoint(srv.URL()),
		runctl.WithBucket(sandbox.DefaultBucket),
		runctl.WithCacheDir(""),
		runctl.WithEventHandler(w.Events.handle),
		runctl.WithSSM(newCountingSSM(ssm.NewFromConfig(cfg, func(o *ssm.Options) { endpoint(&o.BaseEndpoint) }),
			w.Calls, spec.SSMLatency)),
		runctl.WithEC2(countingEC2{EC2API: ec2.NewFromConfig(cfg, func(o *ec2.Options) { endpoint(&o.BaseEndpoint) }),
			rec: w.Calls}),
		runctl.WithS3(countingS3{S3API: s3c, rec: w.Calls}),
		runctl.WithS3Presigner(s3.NewPresignClient(s3c)),
	}
	if spec.PollMin > 0 {
		opts = append(opts, runctl.WithPollInterval(spec.PollMin, spec.PollMax))
	}
	if spec.FollowMax > 0 {
		opts = append(opts, runctl.WithFollowInterval(spec.FollowMax))
	}
	c, err := runctl.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("making a client: %w", err)
	}
	w.Client = c
	return w, nil
}

// AWSConfig is a hand-built configuration with static fake credentials: no
// profile, environment or metadata service is read.
func AWSConfig(region string) aws.Config {
	return aws.Config{Region: region,
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
}

// Events keeps the events a client reports, each with the time it arrived.
// It is safe for concurrent use.
type Events struct {
	mu   sync.Mutex
	all  []Timed
	next func(context.Context, runctl.Event)
}

// Timed is an event and when the handler received it.
type Timed struct {
	At    time.Time
	Event runctl.Event
}

func (e *Events) handle(ctx context.Context, ev runctl.Event) {
	now := time.Now()
	e.mu.Lock()
	e.all = append(e.all, Timed{At: now, Event: ev})
	e.mu.Unlock()
	if e.next != nil {
		e.next(ctx, ev)
	}
}

// All returns the events received so far.
func (e *Events) All() []Timed {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Timed(nil), e.all...)
}

// syncFinished returns the last sync phase's end event, if there is one.
func (e *Events) syncFinished() (runctl.PhaseFinished, bool) {
	all := e.All()
	for i := len(all) - 1; i >= 0; i-- {
		if pf, ok := all[i].Event.(runctl.PhaseFinished); ok && pf.Phase == runctl.PhaseSync {
			return pf, true
		}
	}
	return runctl.PhaseFinished{}, false
}
