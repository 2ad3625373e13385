package sandbox

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/servicequotas"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"
)

// TestMain isolates the tests from any real AWS configuration and runs the
// helper process modes of the cross-process test.
func TestMain(m *testing.M) {
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	os.Setenv("AWS_CONFIG_FILE", os.DevNull)
	os.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	os.Setenv("AWS_ACCESS_KEY_ID", "test")
	os.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode))
	}
	os.Exit(m.Run())
}

const al2023x86 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"

// start runs a server on a fresh temporary state directory unless o names
// one, and closes it when the test ends.
func start(t *testing.T, o Options) *Server {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	srv, err := Start(context.Background(), o)
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	return srv
}

// clients are real SDK clients pointed at one server.
type clients struct {
	ec2     *ec2.Client
	ssm     *ssm.Client
	s3      *s3.Client
	iam     *iam.Client
	sts     *sts.Client
	pricing *pricing.Client
	quotas  *servicequotas.Client
}

// newClients builds the clients the way runctl's tests do: a hand-built
// config with static credentials and a per-client base endpoint. Retries
// are off so each fault shows; pass attempts > 1 to exercise the retryer.
func newClients(srv *Server, attempts int) clients {
	cfg := aws.Config{
		Region:      srv.Region(),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = attempts
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) {
					return time.Millisecond, nil
				})
			})
		},
	}
	ep := aws.String(srv.URL())
	return clients{
		ec2: ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = ep }),
		ssm: ssm.NewFromConfig(cfg, func(o *ssm.Options) { o.BaseEndpoint = ep }),
		s3: s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.BaseEndpoint, o.UsePathStyle = ep, true
		}),
		iam: iam.NewFromConfig(cfg, func(o *iam.Options) { o.BaseEndpoint = ep }),
		sts: sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = ep }),
		pricing: pricing.NewFromConfig(cfg, func(o *pricing.Options) {
			o.BaseEndpoint, o.Region = ep, "us-east-1"
		}),
		quotas: servicequotas.NewFromConfig(cfg, func(o *servicequotas.Options) { o.BaseEndpoint = ep }),
	}
}

// apiCode returns the AWS error code and HTTP status of err.
func apiCode(t *testing.T, err error) (string, int) {
	t.Helper()
	require.Error(t, err)
	var ae smithy.APIError
	require.True(t, errors.As(err, &ae), "not an API error: %v", err)
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return ae.ErrorCode(), status
}

// waitFor polls cond every 10ms until it holds or max passes.
func waitFor(t *testing.T, max time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(max)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", max, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// amiID resolves the AL2023 x86_64 AMI through SSM, as runctl does.
func amiID(t *testing.T, c clients, param string) string {
	t.Helper()
	out, err := c.ssm.GetParameter(context.Background(), &ssm.GetParameterInput{Name: aws.String(param)})
	require.NoError(t, err)
	return aws.ToString(out.Parameter.Value)
}

// imageFor looks an AMI up in the catalogue without an API call, for tests
// whose faults would get in the way of one.
func imageFor(t *testing.T, param string) string {
	for _, im := range images("us-east-1") {
		if im.Param == param {
			return im.ID
		}
	}
	t.Fatalf("no image for %s", param)
	return ""
}

// runInput is a minimal RunInstances request for itype.
func runInput(t *testing.T, c clients, itype string, spot bool) *ec2.RunInstancesInput {
	return runInputAMI(amiID(t, c, al2023x86), itype, spot)
}

func runInputAMI(ami, itype string, spot bool) *ec2.RunInstancesInput {
	in := &ec2.RunInstancesInput{
		ImageId: aws.String(ami), InstanceType: ec2types.InstanceType(itype),
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		IamInstanceProfile:                &ec2types.IamInstanceProfileSpecification{Name: aws.String(DefaultInstanceProfile)},
		InstanceInitiatedShutdownBehavior: ec2types.ShutdownBehaviorTerminate,
	}
	if spot {
		in.InstanceMarketOptions = &ec2types.InstanceMarketOptionsRequest{
			MarketType: ec2types.MarketTypeSpot,
			SpotOptions: &ec2types.SpotMarketOptions{SpotInstanceType: ec2types.SpotInstanceTypeOneTime,
				InstanceInterruptionBehavior: ec2types.InstanceInterruptionBehaviorTerminate},
		}
	}
	return in
}

// launch starts one instance and waits until its agent is Online.
func launch(t *testing.T, srv *Server, c clients, in *ec2.RunInstancesInput) string {
	t.Helper()
	out, err := c.ec2.RunInstances(context.Background(), in)
	require.NoError(t, err)
	id := aws.ToString(out.Instances[0].InstanceId)
	waitFor(t, 5*time.Second, "agent online", func() bool {
		inst, err := srv.Instance(id)
		return err == nil && inst.AgentOnline
	})
	return id
}

// run sends a shell command and waits for its terminal invocation.
func run(t *testing.T, c clients, id string, params map[string][]string) *ssm.GetCommandInvocationOutput {
	t.Helper()
	ctx := context.Background()
	sent, err := c.ssm.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"),
		InstanceIds: []string{id}, Parameters: params})
	require.NoError(t, err)
	var out *ssm.GetCommandInvocationOutput
	waitFor(t, 10*time.Second, "command to end", func() bool {
		out, err = c.ssm.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{
			CommandId: sent.Command.CommandId, InstanceId: aws.String(id)})
		if err != nil {
			code, _ := apiCode(t, err)
			require.Equal(t, "InvocationDoesNotExist", code)
			return false
		}
		switch out.Status {
		case "Pending", "InProgress", "Delayed":
			return false
		}
		return true
	})
	return out
}

func shell(commands ...string) map[string][]string {
	return map[string][]string{"commands": commands}
}

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}
