package runctl

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Clock is the source of time for every wait and poll. Tests pass a fake
// with [WithClock] so waits finish at once.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// Option configures a [Client].
type Option func(*options)

type options struct {
	region    string
	profile   string
	endpoint  string
	awsConfig *aws.Config
	bucket    string

	ec2     EC2API
	ssm     SSMAPI
	s3      S3API
	presign S3PresignAPI
	iam     IAMAPI
	sts     STSAPI
	pricing PricingAPI
	quotas  QuotasAPI

	logger  *slog.Logger
	handler func(context.Context, Event)
	clock   Clock

	cacheDir         string
	cacheSet         bool
	pollMin, pollMax time.Duration
	followMax        time.Duration
	teardownTimeout  time.Duration
}

func defaultOptions() options {
	return options{
		logger:          slog.New(slog.DiscardHandler),
		handler:         func(context.Context, Event) {},
		clock:           realClock{},
		pollMin:         time.Second,
		pollMax:         5 * time.Second,
		followMax:       30 * time.Second,
		teardownTimeout: 5 * time.Minute,
	}
}

func (o *options) validate() error {
	if o.pollMin <= 0 || o.pollMax < o.pollMin {
		return fmt.Errorf("runctl: poll interval %v..%v is not a valid range", o.pollMin, o.pollMax)
	}
	if o.followMax < o.pollMin {
		return fmt.Errorf("runctl: follow interval %v is below the shortest poll %v", o.followMax, o.pollMin)
	}
	return nil
}

// WithRegion sets the AWS region, overriding the environment and profile.
func WithRegion(region string) Option { return func(o *options) { o.region = region } }

// WithProfile selects a named profile from the shared AWS configuration.
func WithProfile(name string) Option { return func(o *options) { o.profile = name } }

// WithEndpoint sends every AWS call to url instead of AWS, as
// AWS_ENDPOINT_URL does; S3 then uses path-style addressing. It is how
// callers point runctl at the sandbox.
func WithEndpoint(url string) Option { return func(o *options) { o.endpoint = url } }

// WithAWSConfig uses cfg instead of loading the SDK's default configuration.
func WithAWSConfig(cfg aws.Config) Option { return func(o *options) { o.awsConfig = &cfg } }

// WithBucket sets the S3 bucket that code is shipped through.
func WithBucket(name string) Option { return func(o *options) { o.bucket = name } }

// WithEC2 makes the client call api instead of building an EC2 client.
func WithEC2(api EC2API) Option { return func(o *options) { o.ec2 = api } }

// WithSSM makes the client call api instead of building an SSM client.
func WithSSM(api SSMAPI) Option { return func(o *options) { o.ssm = api } }

// WithS3 makes the client call api instead of building an S3 client. When
// api is not an *s3.Client, pass a presigner with [WithS3Presigner] too.
func WithS3(api S3API) Option { return func(o *options) { o.s3 = api } }

// WithS3Presigner sets how the client presigns the code download URL.
func WithS3Presigner(p S3PresignAPI) Option { return func(o *options) { o.presign = p } }

// WithIAM makes the client call api instead of building an IAM client.
func WithIAM(api IAMAPI) Option { return func(o *options) { o.iam = api } }

// WithSTS makes the client call api instead of building an STS client.
func WithSTS(api STSAPI) Option { return func(o *options) { o.sts = api } }

// WithPricing makes the client call api instead of building a Price List
// client.
func WithPricing(api PricingAPI) Option { return func(o *options) { o.pricing = api } }

// WithServiceQuotas makes the client call api instead of building a Service
// Quotas client.
func WithServiceQuotas(api QuotasAPI) Option { return func(o *options) { o.quotas = api } }

// WithLogger sets the logger for debug and milestone records. The default
// discards everything. Credentials and presigned URLs are never logged.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithEventHandler sets the function that receives progress, cost and log
// events. It is called synchronously from the goroutine doing the work, so
// it must return quickly and must not block.
func WithEventHandler(h func(context.Context, Event)) Option {
	return func(o *options) {
		if h != nil {
			o.handler = h
		}
	}
}

// WithClock replaces the wall clock used by waits and polls.
func WithClock(c Clock) Option {
	return func(o *options) {
		if c != nil {
			o.clock = c
		}
	}
}

// WithCacheDir sets where runctl keeps its on-demand price cache. Empty
// disables the cache. By default it is runctl under the user's cache
// directory, except when [WithEndpoint] points elsewhere than AWS.
func WithCacheDir(dir string) Option {
	return func(o *options) { o.cacheDir, o.cacheSet = dir, true }
}

// WithPollInterval sets the shortest and longest pause between two polls of
// an instance or a job. Polls start at min and back off to max while nothing
// changes. The default is 1s to 5s.
func WithPollInterval(min, max time.Duration) Option {
	return func(o *options) { o.pollMin, o.pollMax = min, max }
}

// WithFollowInterval sets the longest pause between two polls of a job
// whose output has gone quiet. While output flows, polls follow each other
// at the shortest interval of [WithPollInterval]. The default, 30s, keeps a
// quiet job's SSM calls to a few hundred an hour; a line written while the
// job is quiet arrives within that pause.
func WithFollowInterval(max time.Duration) Option {
	return func(o *options) { o.followMax = max }
}

// CreateOption configures one [Client.CreateInstance] call.
type CreateOption func(*createOptions)

type createOptions struct {
	spot           bool
	noFallback     bool
	maxPrice       float64
	spotTimeout    time.Duration
	readyTimeout   time.Duration
	keepOnFailure  bool
	ami            string
	profile        string
	volumeGB       int32
	subnets        []string
	securityGroups []string
	keyName        string
	tags           map[string]string
	maxLifetime    time.Duration
	runID          string
	noPreflight    bool
}

func defaultCreateOptions() createOptions {
	return createOptions{
		spotTimeout:  2 * time.Minute,
		readyTimeout: 10 * time.Minute,
		volumeGB:     0,
	}
}

// Spot asks for a spot instance. When spot capacity or price fails, the
// call falls back to on-demand with a [CostWarning] unless [WithoutFallback]
// is given or the on-demand price is above [WithMaxHourlyPrice].
func Spot() CreateOption { return func(o *createOptions) { o.spot = true } }

// WithoutFallback makes a failed spot launch an error instead of a move to
// on-demand.
func WithoutFallback() CreateOption { return func(o *createOptions) { o.noFallback = true } }

// WithMaxHourlyPrice refuses any launch whose hourly price in US dollars is
// above usd. For spot it is also the maximum price bid.
func WithMaxHourlyPrice(usd float64) CreateOption {
	return func(o *createOptions) { o.maxPrice = usd }
}

// WithSpotTimeout bounds the time spent trying to get spot capacity before
// falling back. The default is two minutes.
func WithSpotTimeout(d time.Duration) CreateOption {
	return func(o *createOptions) { o.spotTimeout = d }
}

// WithReadyTimeout bounds the wait for the instance to run and for its SSM
// agent to come online. The default is ten minutes.
func WithReadyTimeout(d time.Duration) CreateOption {
	return func(o *createOptions) { o.readyTimeout = d }
}

// WithKeepOnFailure keeps a launched instance when a later step fails or the
// context is cancelled. The caller then owns terminating it.
func WithKeepOnFailure() CreateOption { return func(o *createOptions) { o.keepOnFailure = true } }

// WithAMI launches image id instead of resolving the latest public image for
// the instance type's architecture.
func WithAMI(id string) CreateOption { return func(o *createOptions) { o.ami = id } }

// WithInstanceProfile attaches the named IAM instance profile; its role
// needs the AmazonSSMManagedInstanceCore policy for runctl to reach it.
func WithInstanceProfile(name string) CreateOption {
	return func(o *createOptions) { o.profile = name }
}

// WithVolumeSize sets the root volume size in GiB.
func WithVolumeSize(gib int32) CreateOption { return func(o *createOptions) { o.volumeGB = gib } }

// WithSubnets lists the subnets to launch in, tried in order when a zone has
// no capacity. By default runctl uses the default subnet of each zone.
func WithSubnets(ids ...string) CreateOption {
	return func(o *createOptions) { o.subnets = append(o.subnets, ids...) }
}

// WithSecurityGroups sets the security groups of the instance.
func WithSecurityGroups(ids ...string) CreateOption {
	return func(o *createOptions) { o.securityGroups = append(o.securityGroups, ids...) }
}

// WithKeyName sets the EC2 key pair, for callers who also want SSH.
func WithKeyName(name string) CreateOption { return func(o *createOptions) { o.keyName = name } }

// WithTags adds tags to the instance and its volumes.
func WithTags(tags map[string]string) CreateOption {
	return func(o *createOptions) {
		if o.tags == nil {
			o.tags = map[string]string{}
		}
		for k, v := range tags {
			o.tags[k] = v
		}
	}
}

// WithMaxLifetime makes the instance end itself after d, whatever happens to
// the machine that launched it. Zero, the default, sets no limit.
func WithMaxLifetime(d time.Duration) CreateOption {
	return func(o *createOptions) { o.maxLifetime = d }
}

// WithoutPreflight skips the checks CreateInstance makes before launching,
// for callers that ran [Client.Preflight] themselves.
func WithoutPreflight() CreateOption { return func(o *createOptions) { o.noPreflight = true } }

// WithRunID sets the run identifier tagged on the instance; by default a
// random one is made.
func WithRunID(id string) CreateOption { return func(o *createOptions) { o.runID = id } }

// TerminateOption configures one [Client.Terminate] call.
type TerminateOption func(*terminateOptions)

type terminateOptions struct {
	force   bool
	timeout time.Duration
	noWait  bool
}

// Force terminates an instance even when runctl did not launch it.
func Force() TerminateOption { return func(o *terminateOptions) { o.force = true } }

// WithTerminateTimeout bounds the wait for AWS to report the instance
// terminated. The default is five minutes.
func WithTerminateTimeout(d time.Duration) TerminateOption {
	return func(o *terminateOptions) { o.timeout = d }
}

// NoWait returns once AWS accepted the request, without waiting for the
// instance to reach terminated.
func NoWait() TerminateOption { return func(o *terminateOptions) { o.noWait = true } }
