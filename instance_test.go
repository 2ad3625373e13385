package runctl

import (
	"context"
	"encoding/base64"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testEnv is a Client wired to fakes, with the fakes and its events.
type testEnv struct {
	c   *Client
	ec2 *fakeEC2
	ssm *fakeSSM
	rec *recorder
}

func newTestEnv(t *testing.T, opts ...Option) *testEnv {
	t.Helper()
	env := &testEnv{ec2: newFakeEC2(), ssm: &fakeSSM{onlineAfter: 2}, rec: &recorder{}}
	base := []Option{
		WithAWSConfig(aws.Config{Region: "us-east-1"}),
		WithEC2(env.ec2), WithSSM(env.ssm), WithPricing(fakePricing{}),
		WithS3(fakeS3{buckets: []string{"b", "my-runctl-artifacts"}}), WithIAM(fakeIAM{}), WithSTS(fakeSTS{}),
		WithServiceQuotas(goodQuotas()), WithS3Presigner(nil),
		WithEventHandler(env.rec.handle), WithClock(newFakeClock()), WithCacheDir(t.TempDir()),
	}
	c, err := New(context.Background(), append(base, opts...)...)
	require.NoError(t, err)
	env.c = c
	return env
}

func TestSpotLaunchSucceeds(t *testing.T) {
	env := newTestEnv(t)
	inst, err := env.c.CreateInstance(context.Background(), "g4dn.xlarge", Spot(),
		WithInstanceProfile("runctl-ssm"), WithMaxLifetime(time.Hour))
	require.NoError(t, err)

	assert.Equal(t, MarketSpot, inst.Market)
	assert.Equal(t, "us-east-1a", inst.Zone, "the cheapest zone is tried first")
	assert.InDelta(t, 0.16, inst.HourlyPrice.USD, 1e-9)
	require.Len(t, env.ec2.runs, 1)
	in := env.ec2.runs[0]
	assert.Equal(t, ec2types.MarketTypeSpot, in.InstanceMarketOptions.MarketType)
	assert.Equal(t, ec2types.SpotInstanceTypeOneTime, in.InstanceMarketOptions.SpotOptions.SpotInstanceType)
	assert.Equal(t, ec2types.InstanceInterruptionBehaviorTerminate,
		in.InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior)
	assert.Equal(t, ec2types.HttpTokensStateRequired, in.MetadataOptions.HttpTokens)
	assert.Equal(t, ec2types.ShutdownBehaviorTerminate, in.InstanceInitiatedShutdownBehavior)
	assert.True(t, aws.ToBool(in.BlockDeviceMappings[0].Ebs.Encrypted))
	assert.Equal(t, "runctl-ssm", aws.ToString(in.IamInstanceProfile.Name))
	assert.NotEmpty(t, aws.ToString(in.ClientToken))
	ud, err := base64.StdEncoding.DecodeString(aws.ToString(in.UserData))
	require.NoError(t, err)
	assert.Contains(t, string(ud), "RUNCTL_MAX_LIFETIME=3600")

	tags := map[string]string{}
	for _, ts := range in.TagSpecifications {
		for _, tg := range ts.Tags {
			tags[string(ts.ResourceType)+"/"+aws.ToString(tg.Key)] = aws.ToString(tg.Value)
		}
	}
	assert.Equal(t, "true", tags["instance/"+TagManaged])
	assert.Equal(t, "true", tags["volume/"+TagManaged])
	assert.NotEmpty(t, tags["instance/"+TagRun])
	assert.NotEmpty(t, tags["instance/"+TagCreatedBy])
	assert.Empty(t, eventsOf[CostWarning](env.rec))
}

func TestSpotFallsBackToOnDemand(t *testing.T) {
	for _, tc := range []struct {
		code       string
		spotCalls  int // zone errors try every zone; quota and price errors do not
		wantReason string
	}{
		{"InsufficientInstanceCapacity", 3, "no capacity"},
		{"Unsupported", 3, "not offered in this zone"},
		{"InsufficientFreeAddressesInSubnet", 3, "no free IP"},
		{"SpotMaxPriceTooLow", 1, "spot price is above"},
		{"MaxSpotInstanceCountExceeded", 1, "spot instance quota"},
	} {
		t.Run(tc.code, func(t *testing.T) {
			env := newTestEnv(t)
			env.ec2.runErrs["spot/*"] = apiErr(tc.code)
			inst, err := env.c.CreateInstance(context.Background(), "g4dn.xlarge", Spot())
			require.NoError(t, err)

			assert.Equal(t, MarketOnDemand, inst.Market)
			assert.Len(t, env.ec2.Calls("RunInstances spot"), tc.spotCalls)
			assert.Len(t, env.ec2.Calls("RunInstances on-demand"), 1)
			warnings := eventsOf[CostWarning](env.rec)
			require.Len(t, warnings, 1)
			w := warnings[0]
			assert.Equal(t, tc.code, w.Code)
			assert.Contains(t, w.Reason, tc.wantReason)
			assert.InDelta(t, 0.526, w.OnDemandPrice, 1e-9)
			assert.InDelta(t, 0.16, w.SpotPrice, 1e-9)
			assert.InDelta(t, 0.526/0.16, w.Ratio, 1e-9)
			assert.Contains(t, w.Message, "$0.5260/h")
			assert.Contains(t, w.Message, "$0.1600/h")
			assert.Contains(t, w.Message, "about 3.3x more")
		})
	}
}

func TestSpotCapacityInOneZoneTriesAnother(t *testing.T) {
	env := newTestEnv(t)
	env.ec2.runErrs["spot/us-east-1a"] = apiErr("InsufficientInstanceCapacity")
	inst, err := env.c.CreateInstance(context.Background(), "g4dn.xlarge", Spot())
	require.NoError(t, err)

	assert.Equal(t, MarketSpot, inst.Market)
	assert.Equal(t, "us-east-1b", inst.Zone)
	assert.Equal(t, []string{"RunInstances spot us-east-1a", "RunInstances spot us-east-1b"},
		env.ec2.Calls("RunInstances"))
	attempts := eventsOf[LaunchAttempt](env.rec)
	require.Len(t, attempts, 1)
	assert.Equal(t, "trying another zone", attempts[0].Next)
	assert.InDelta(t, 0.17, inst.HourlyPrice.USD, 1e-9, "the price is the zone's own")
}

func TestNoFallback(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    []CreateOption
		wantErr error
	}{
		{"forbidden", []CreateOption{Spot(), WithoutFallback()}, ErrNoCapacity},
		{"above the cap", []CreateOption{Spot(), WithMaxHourlyPrice(0.30)}, ErrPriceCap},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			env.ec2.runErrs["spot/*"] = apiErr("InsufficientInstanceCapacity")
			_, err := env.c.CreateInstance(context.Background(), "g4dn.xlarge", tc.opts...)
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.wantErr)
			assert.Empty(t, env.ec2.Calls("RunInstances on-demand"))
			assert.Empty(t, eventsOf[CostWarning](env.rec))
		})
	}
}

func TestPriceCapErrorNamesBothNumbers(t *testing.T) {
	env := newTestEnv(t)
	env.ec2.runErrs["spot/*"] = apiErr("InsufficientInstanceCapacity")
	_, err := env.c.CreateInstance(context.Background(), "g4dn.xlarge", Spot(), WithMaxHourlyPrice(0.30))
	var pe *PriceCapError
	require.ErrorAs(t, err, &pe)
	assert.Contains(t, err.Error(), "$0.5260/hour")
	assert.Contains(t, err.Error(), "$0.3000/hour")
}

func TestOnDemandQuotaIsNotRetriedInOtherZones(t *testing.T) {
	env := newTestEnv(t)
	env.ec2.runErrs["on-demand/*"] = apiErr("VcpuLimitExceeded")
	_, err := env.c.CreateInstance(context.Background(), "g4dn.xlarge")
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrQuota)
	assert.Len(t, env.ec2.Calls("RunInstances"), 1, "quotas are regional: another zone would not help")
	assert.Contains(t, err.Error(), "Service Quotas")
}

func TestSpotQuotaThenOnDemandQuotaSaysWhich(t *testing.T) {
	env := newTestEnv(t)
	env.ec2.runErrs["spot/*"] = apiErr("MaxSpotInstanceCountExceeded")
	env.ec2.runErrs["on-demand/*"] = apiErr("VcpuLimitExceeded")
	_, err := env.c.CreateInstance(context.Background(), "g4dn.xlarge", Spot())
	var le *LaunchError
	require.ErrorAs(t, err, &le)
	require.Len(t, le.Attempts, 2)
	assert.Equal(t, MarketSpot, le.Attempts[0].Market)
	assert.Equal(t, "MaxSpotInstanceCountExceeded", le.Attempts[0].Code)
	assert.Equal(t, MarketOnDemand, le.Attempts[1].Market)
	assert.Contains(t, err.Error(), "spot instance quota")
	assert.Contains(t, err.Error(), "vCPU quota")
	assert.Len(t, env.ec2.Calls("RunInstances"), 2)
}

func TestConfigErrorsDoNotFallBack(t *testing.T) {
	env := newTestEnv(t)
	env.ec2.runErrs["spot/*"] = apiErr("UnauthorizedOperation")
	_, err := env.c.CreateInstance(context.Background(), "g4dn.xlarge", Spot())
	require.Error(t, err)
	assert.Len(t, env.ec2.Calls("RunInstances"), 1)
	assert.Empty(t, eventsOf[CostWarning](env.rec))
}

func TestWaitsReportProgress(t *testing.T) {
	env := newTestEnv(t)
	env.ssm.onlineAfter = 3
	env.ec2.states["i-00000000000000001"] = []string{"pending", "pending", "pending"}
	_, err := env.c.CreateInstance(context.Background(), "t3.micro")
	require.NoError(t, err)

	byPhase := map[Phase]int{}
	for _, p := range eventsOf[WaitProgress](env.rec) {
		byPhase[p.Phase]++
		assert.Equal(t, 10*time.Minute, p.Limit)
	}
	assert.GreaterOrEqual(t, byPhase[PhaseWaitRunning], 3)
	assert.GreaterOrEqual(t, byPhase[PhaseWaitSSM], 3)
}

func TestFailedReadyWaitTerminates(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(map[bool]string{false: "terminates", true: "keeps when asked"}[keep], func(t *testing.T) {
			env := newTestEnv(t)
			env.ssm.never = true
			opts := []CreateOption{WithReadyTimeout(time.Minute)}
			if keep {
				opts = append(opts, WithKeepOnFailure())
			}
			_, err := env.c.CreateInstance(context.Background(), "t3.micro", opts...)
			var te *TimeoutError
			require.ErrorAs(t, err, &te)
			assert.Equal(t, PhaseWaitSSM, te.Phase)
			assert.Contains(t, err.Error(), "instance profile")
			if keep {
				assert.Empty(t, env.ec2.terminate)
				assert.Contains(t, err.Error(), "kept running")
			} else {
				assert.Equal(t, []string{"i-00000000000000001"}, env.ec2.terminate)
				assert.Contains(t, err.Error(), "terminated")
			}
		})
	}
}

func TestCancelAfterLaunchTerminates(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env := newTestEnv(t, WithEventHandler(func(_ context.Context, e Event) {
		if _, ok := e.(InstanceLaunched); ok {
			cancel()
		}
	}))
	_, err := env.c.CreateInstance(ctx, "t3.micro")
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, []string{"i-00000000000000001"}, env.ec2.terminate)
}

func TestCancelDuringLaunchSweepsTheRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	env := newTestEnv(t)
	env.ec2.lostReply = true
	env.ec2.runHook = func(context.Context) { cancel() }
	_, err := env.c.CreateInstance(ctx, "t3.micro")
	require.Error(t, err)
	assert.Equal(t, []string{"i-00000000000000001"}, env.ec2.terminate,
		"an instance launched by a call whose reply was lost is found by its run tag")
}

func TestTerminate(t *testing.T) {
	env := newTestEnv(t)
	inst, err := env.c.CreateInstance(context.Background(), "t3.micro")
	require.NoError(t, err)

	require.NoError(t, env.c.Terminate(context.Background(), inst.ID))
	done := eventsOf[InstanceTerminated](env.rec)
	require.Len(t, done, 1)
	assert.True(t, done[0].Final)
	assert.Equal(t, "terminated", done[0].State)
	calls := env.ec2.Calls("")
	assert.Equal(t, "DescribeInstances", calls[len(calls)-1], "terminated is said only after AWS says so")
}

func TestTerminateRefusesUntagged(t *testing.T) {
	env := newTestEnv(t)
	env.ec2.untagged = true
	inst, err := env.c.CreateInstance(context.Background(), "t3.micro")
	require.NoError(t, err)

	err = env.c.Terminate(context.Background(), inst.ID)
	assert.ErrorIs(t, err, ErrNotManaged)
	assert.Empty(t, env.ec2.terminate)

	require.NoError(t, env.c.Terminate(context.Background(), inst.ID, Force()))
	assert.Equal(t, []string{inst.ID}, env.ec2.terminate)
}

func TestBadInputIsRefusedBeforeAnyCall(t *testing.T) {
	for _, tc := range []struct {
		name  string
		itype string
		opts  []CreateOption
		want  string
	}{
		{"type", "g4dn xlarge", nil, "not an instance type"},
		{"negative cap", "t3.micro", []CreateOption{WithMaxHourlyPrice(-1)}, "not a price"},
		{"NaN cap", "t3.micro", []CreateOption{WithMaxHourlyPrice(math.NaN())}, "not a price"},
		{"ami", "t3.micro", []CreateOption{WithAMI("xyz")}, "not an AMI"},
		{"zero timeout", "t3.micro", []CreateOption{WithSpotTimeout(0)}, "positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			_, err := env.c.CreateInstance(context.Background(), tc.itype, tc.opts...)
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Contains(t, err.Error(), tc.want)
			assert.Empty(t, env.ec2.Calls(""))
		})
	}
}

func TestUnknownTypeSuggestsTheNearest(t *testing.T) {
	env := newTestEnv(t)
	_, err := env.c.CreateInstance(context.Background(), "t3.mirco")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "did you mean t3.micro?")
	assert.Empty(t, env.ec2.Calls("RunInstances"))
}

func TestClassify(t *testing.T) {
	for code, scope := range map[string]Scope{
		"InsufficientInstanceCapacity": ScopeZone, "VcpuLimitExceeded": ScopeQuota,
		"SpotMaxPriceTooLow": ScopePrice, "RequestLimitExceeded": ScopeThrottle,
		"UnauthorizedOperation": ScopeAuth, "InvalidAMIID.NotFound": ScopeConfig, "Whatever": ScopeUnknown,
	} {
		ae := classify("RunInstances", errors.Join(errors.New("wrapped"), apiErr(code)))
		require.NotNil(t, ae, code)
		assert.Equal(t, scope, ae.Scope, code)
		assert.NotEmpty(t, ae.Explanation, code)
	}
	assert.Nil(t, classify("x", errors.New("plain")))
	ae := classify("RunInstances", &testAPIError{code: "InvalidParameterValue",
		msg: "Value (runctl-ssm) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name"})
	assert.True(t, strings.Contains(ae.Fix, "runctl aws setup"))
}

func TestRootVolumeAlwaysHasASize(t *testing.T) {
	// moto, like some EC2 look-alikes, refuses a block device mapping
	// without a size: the image's own size is used unless one is asked.
	for _, tc := range []struct {
		opts []CreateOption
		want int32
	}{
		{nil, 8},
		{[]CreateOption{WithVolumeSize(100)}, 100},
	} {
		env := newTestEnv(t)
		_, err := env.c.CreateInstance(context.Background(), "t3.micro", tc.opts...)
		require.NoError(t, err)
		ebs := env.ec2.runs[0].BlockDeviceMappings[0].Ebs
		assert.Equal(t, tc.want, aws.ToInt32(ebs.VolumeSize))
		assert.True(t, aws.ToBool(ebs.Encrypted))
	}
}

func TestTinyPricesAreNotShownAsFree(t *testing.T) {
	assert.Equal(t, "$0.00001/h", Price{USD: 0.00001, Known: true}.String())
	assert.Equal(t, "$0.5260/h", Price{USD: 0.526, Known: true}.String())
	assert.Equal(t, "unknown", Price{}.String())
}

func TestUnknownAWSCodesKeepAWSWords(t *testing.T) {
	ae := classify("RunInstances", &testAPIError{code: "MissingParameter",
		msg: "The request must contain the parameter size or snapshotId"})
	assert.Contains(t, ae.Error(), "parameter size or snapshotId")
}

func TestAgentOfflineSaysWhichCauseApplies(t *testing.T) {
	for _, tc := range []struct {
		name    string
		iam     IAMAPI
		profile string
		want    string
	}{
		{"no profile", fakeIAM{}, "", "has no instance profile"},
		{"policy missing", fakeIAM{noPolicy: true}, "runctl-ssm", "lacks the AmazonSSMManagedInstanceCore policy"},
		{"profile fine", fakeIAM{}, "runctl-ssm", "no route to the SSM endpoints"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t, WithIAM(tc.iam))
			env.ssm.never = true
			opts := []CreateOption{WithReadyTimeout(time.Minute), WithoutPreflight()}
			if tc.profile != "" {
				opts = append(opts, WithInstanceProfile(tc.profile))
			}
			_, err := env.c.CreateInstance(context.Background(), "t3.micro", opts...)
			require.ErrorIs(t, err, ErrTimeout)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
