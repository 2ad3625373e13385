package runctl

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/servicequotas"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/runctl/runctl/internal/pricecache"
)

// Client creates instances, runs training jobs on them and terminates them.
// A Client is safe for concurrent use once New returns it.
type Client struct {
	opts    options
	cfg     aws.Config
	ec2     EC2API
	ssm     SSMAPI
	s3      S3API
	presign S3PresignAPI
	iam     IAMAPI
	sts     STSAPI
	pricing PricingAPI
	quotas  QuotasAPI
	prices  *pricer
	cmdTime commandTimer
	log     *slog.Logger
}

// New returns a Client. Every AWS client it needs and was not given with an
// option is built from one configuration: the SDK's default chain
// (environment, shared profiles, SSO, AWS_ENDPOINT_URL), or the one passed
// with [WithAWSConfig]. New makes no AWS call.
func New(ctx context.Context, opts ...Option) (*Client, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}

	cfg, err := loadConfig(ctx, &o)
	if err != nil {
		return nil, err
	}

	c := &Client{opts: o, cfg: cfg, log: o.logger}
	c.buildClients()
	c.prices = newPricer(c.ec2, c.pricing, o.clock, priceCache(&o))
	return c, nil
}

// Region returns the region the client works in.
func (c *Client) Region() string { return c.cfg.Region }

// Bucket returns the S3 bucket used for code and outputs, or "" when none is
// configured.
func (c *Client) Bucket() string { return c.opts.bucket }

// loadConfig resolves the AWS configuration once, so every client shares
// credentials, region, retry settings and endpoint overrides.
func loadConfig(ctx context.Context, o *options) (aws.Config, error) {
	if o.awsConfig != nil {
		cfg := o.awsConfig.Copy()
		if o.region != "" {
			cfg.Region = o.region
		}
		if cfg.Retryer == nil {
			cfg.Retryer = newRetryer
		}
		return cfg, nil
	}
	var lo []func(*config.LoadOptions) error
	if o.region != "" {
		lo = append(lo, config.WithRegion(o.region))
	}
	if o.profile != "" {
		lo = append(lo, config.WithSharedConfigProfile(o.profile))
	}
	if os.Getenv("AWS_MAX_ATTEMPTS") == "" {
		lo = append(lo, config.WithRetryer(newRetryer))
	}
	cfg, err := config.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, &ConfigError{
			Problem: "no AWS region is set",
			Fix:     "set AWS_REGION, add region to your profile, or pass --region / runctl.WithRegion",
		}
	}
	return cfg, nil
}

// newRetryer retries throttling and transient errors more patiently than
// the SDK's default of three attempts: a run makes hundreds of calls, and a
// throttled poll must not fail a training job that is fine.
func newRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 8
		o.MaxBackoff = 20 * time.Second
	})
}

// buildClients fills in every client the caller did not inject.
func (c *Client) buildClients() {
	o := &c.opts
	endpoint := func(base **string) {
		if o.endpoint != "" {
			*base = aws.String(o.endpoint)
		}
	}
	c.ec2 = o.ec2
	if c.ec2 == nil {
		c.ec2 = ec2.NewFromConfig(c.cfg, func(eo *ec2.Options) { endpoint(&eo.BaseEndpoint) })
	}
	c.ssm = o.ssm
	if c.ssm == nil {
		c.ssm = ssm.NewFromConfig(c.cfg, func(so *ssm.Options) { endpoint(&so.BaseEndpoint) })
	}
	c.s3, c.presign = o.s3, o.presign
	if c.s3 == nil {
		c.s3 = s3.NewFromConfig(c.cfg, func(so *s3.Options) {
			endpoint(&so.BaseEndpoint)
			// An endpoint override (the sandbox, LocalStack, MinIO) rarely
			// serves virtual-hosted bucket names.
			so.UsePathStyle = so.UsePathStyle || so.BaseEndpoint != nil
		})
	}
	if sc, ok := c.s3.(*s3.Client); ok && c.presign == nil {
		c.presign = s3.NewPresignClient(sc)
	}
	c.iam = o.iam
	if c.iam == nil {
		c.iam = iam.NewFromConfig(c.cfg, func(io *iam.Options) { endpoint(&io.BaseEndpoint) })
	}
	c.sts = o.sts
	if c.sts == nil {
		c.sts = sts.NewFromConfig(c.cfg, func(so *sts.Options) { endpoint(&so.BaseEndpoint) })
	}
	c.quotas = o.quotas
	if c.quotas == nil {
		c.quotas = servicequotas.NewFromConfig(c.cfg, func(qo *servicequotas.Options) { endpoint(&qo.BaseEndpoint) })
	}
	c.pricing = o.pricing
	if c.pricing == nil {
		c.pricing = pricing.NewFromConfig(c.cfg, func(po *pricing.Options) {
			po.Region = pricingRegion(c.cfg.Region)
			endpoint(&po.BaseEndpoint)
		})
	}
}

// priceCache opens the on-demand price cache. Prices read from an endpoint
// override (the sandbox, say) are not AWS's and must not mix with them.
func priceCache(o *options) *pricecache.Cache {
	dir := o.cacheDir
	if !o.cacheSet {
		base, err := os.UserCacheDir()
		if err != nil || o.endpoint != "" || os.Getenv("AWS_ENDPOINT_URL") != "" {
			return nil
		}
		dir = filepath.Join(base, "runctl")
	}
	if dir == "" {
		return nil
	}
	return pricecache.Open(filepath.Join(dir, "prices.json"))
}

// pricingRegion returns a region that serves the Price List API, which has
// endpoints in only a few regions.
func pricingRegion(region string) string {
	switch region {
	case "us-east-1", "eu-central-1", "ap-south-1":
		return region
	}
	return "us-east-1"
}

// creator names who launched an instance, for the runctl:created-by tag.
func creator() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		name += "@" + h
	}
	return name
}

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
