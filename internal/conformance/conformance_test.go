package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"

	"github.com/runctl/runctl/sandbox"
)

// region is the only region the suite uses; both backends serve it.
const region = "us-east-1"

// TestMain makes the environment hermetic before any client or child
// process exists, and stops the moto_server the tests started, if any.
func TestMain(m *testing.M) {
	hermetic()
	code := m.Run()
	stopMoto()
	os.Exit(code)
}

// hermetic keeps the SDK, and moto, from reading the caller's AWS
// configuration or reaching the instance metadata service.
func hermetic() {
	for k, v := range map[string]string{
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_ACCESS_KEY_ID":           "test",
		"AWS_SECRET_ACCESS_KEY":       "test",
		"AWS_REGION":                  region,
		"AWS_DEFAULT_REGION":          region,
		"AWS_CONFIG_FILE":             os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
	} {
		os.Setenv(k, v)
	}
	for _, k := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN",
		"AWS_ENDPOINT_URL", "AWS_CA_BUNDLE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"} {
		os.Unsetenv(k)
	}
}

// backend is one AWS implementation under test, with real SDK clients aimed
// at it. A backend belongs to one subtest.
type backend struct {
	name string // sandboxName or motoName
	url  string
	ec2  *ec2.Client
	s3   *s3.Client
	iam  *iam.Client
	sts  *sts.Client
	ssm  *ssm.Client

	amiOnce sync.Once
	ami     string
	amiErr  error
}

const (
	sandboxName = "sandbox"
	motoName    = "moto"
)

// newBackend builds the clients the way runctl's integration tests do: a
// hand-built config with static credentials, one base endpoint per client
// (setting it on the config would not reach every client), path-style S3,
// and no retries, so each answer is seen as the backend gave it.
func newBackend(name, url string) *backend {
	cfg := aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}
	ep := aws.String(url)
	return &backend{
		name: name, url: url,
		ec2: ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = ep }),
		s3: s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.BaseEndpoint, o.UsePathStyle = ep, true
		}),
		iam: iam.NewFromConfig(cfg, func(o *iam.Options) { o.BaseEndpoint = ep }),
		sts: sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = ep }),
		ssm: ssm.NewFromConfig(cfg, func(o *ssm.Options) { o.BaseEndpoint = ep }),
	}
}

// startSandbox starts a fresh sandbox for one body; it is closed, and what
// it launched terminated, when the body ends.
func startSandbox(t *testing.T) *backend {
	t.Helper()
	srv, err := sandbox.Start(t.Context(), sandbox.Options{
		Dir: t.TempDir(), Fast: true, KillOnClose: true,
	})
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	return newBackend(sandboxName, srv.URL())
}

// startMotoBackend aims clients at the test binary's moto_server, starting
// it on first use, or skips when there is none.
func startMotoBackend(t *testing.T) *backend {
	t.Helper()
	return newBackend(motoName, motoEndpoint(t))
}

// conformCase is one test body, run against every backend.
type conformCase struct {
	name string
	run  func(t *testing.T, b *backend)
}

// conform runs each body as a subtest per backend: TestX/Body/sandbox and
// TestX/Body/moto.
func conform(t *testing.T, cases []conformCase) {
	t.Helper()
	backends := []struct {
		name  string
		start func(*testing.T) *backend
	}{{sandboxName, startSandbox}, {motoName, startMotoBackend}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, be := range backends {
				t.Run(be.name, func(t *testing.T) { c.run(t, be.start(t)) })
			}
		})
	}
}

// motoGap ends the body on moto when moto shows a difference from AWS that
// DIFFERENCES.md lists; seen says whether this run showed it. A gap moto no
// longer shows fails the body, so the list does not outlive the difference.
// On the sandbox it does nothing: the assertions that follow judge it.
func (b *backend) motoGap(t *testing.T, gap string, seen bool) {
	t.Helper()
	reason, ok := motoGaps[gap]
	require.True(t, ok, "unknown moto gap %q", gap)
	if b.name != motoName {
		return
	}
	if !seen {
		t.Errorf("moto no longer shows %s (%s); drop it from motoGaps and DIFFERENCES.md",
			gap, reason)
		return
	}
	t.Skipf("moto differs from AWS (%s in DIFFERENCES.md): %s", gap, reason)
}

// apiError returns the AWS error code and HTTP status of err, read the way
// runctl reads them: errors.As to smithy.APIError, since the SDK wraps it.
func apiError(t *testing.T, err error) (string, int) {
	t.Helper()
	require.Error(t, err)
	var ae smithy.APIError
	require.True(t, errors.As(err, &ae), "not an AWS API error: %v", err)
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return ae.ErrorCode(), status
}

// codeOf returns the AWS error code of err, or "" when err is nil or is not
// an API error.
func codeOf(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// unique returns a name no other body, run or process uses, lower case so
// it is also a valid bucket name.
func unique(prefix string) string {
	var b [6]byte
	rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// eventually polls cond every 20ms until it holds or max passes. cond
// returns a description of what it last saw, for the failure message.
func eventually(t *testing.T, max time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(max)
	for {
		ok, seen := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; last saw %s", max, what, seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cleanupCtx is the context cleanups run on: the test's own is already
// cancelled by then.
func cleanupCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}
