package sandbox

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/servicequotas"
	sqtypes "github.com/aws/aws-sdk-go-v2/service/servicequotas/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runctlQuotaClasses are the classes whose quotas runctl's preflight reads
// by name.
var runctlQuotaClasses = []string{"Standard (A, C, D, H, I, M, R, T, Z)", "G and VT", "P", "Inf", "Trn"}

// listQuotas pages through the EC2 quotas five at a time, as a paginator
// would, and returns them by name.
func listQuotas(t *testing.T, c clients) map[string]sqtypes.ServiceQuota {
	t.Helper()
	out := map[string]sqtypes.ServiceQuota{}
	p := servicequotas.NewListServiceQuotasPaginator(c.quotas, &servicequotas.ListServiceQuotasInput{
		ServiceCode: aws.String("ec2"), MaxResults: aws.Int32(5)})
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		require.NoError(t, err)
		pages++
		for _, q := range page.Quotas {
			out[aws.ToString(q.QuotaName)] = q
		}
	}
	require.Greater(t, pages, 1, "five a page takes more than one page")
	return out
}

func TestListServiceQuotas(t *testing.T) {
	tests := []struct {
		name               string
		faults             string
		wantSpot, wantOnDm float64
	}{
		{name: "defaults", wantSpot: 256, wantOnDm: 256},
		{name: "vcpu quota faults", faults: "spot-vcpu-quota=0,ondemand-vcpu-quota=8", wantSpot: 0, wantOnDm: 8},
		{name: "launch quota faults leave the quotas", faults: "spot-quota,ondemand-quota",
			wantSpot: 256, wantOnDm: 256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFaults(tt.faults)
			require.NoError(t, err)
			quotas := listQuotas(t, newClients(start(t, Options{Fast: true, Faults: f}), 1))
			for _, class := range runctlQuotaClasses {
				od, ok := quotas["Running On-Demand "+class+" instances"]
				require.True(t, ok, "on-demand %s", class)
				assert.Equal(t, tt.wantOnDm, aws.ToFloat64(od.Value))
				spot, ok := quotas["All "+class+" Spot Instance Requests"]
				require.True(t, ok, "spot %s", class)
				assert.Equal(t, tt.wantSpot, aws.ToFloat64(spot.Value))
			}
			assert.Equal(t, 5.0, aws.ToFloat64(quotas["EC2-VPC Elastic IPs"].Value), "not a vCPU quota")
		})
	}
}

func TestServiceQuotaShape(t *testing.T) {
	c := newClients(start(t, Options{Fast: true}), 1)
	ctx := context.Background()
	out, err := c.quotas.GetServiceQuota(ctx, &servicequotas.GetServiceQuotaInput{
		ServiceCode: aws.String("ec2"), QuotaCode: aws.String("L-DB2E81BA")})
	require.NoError(t, err)
	q := out.Quota
	assert.Equal(t, "Running On-Demand G and VT instances", aws.ToString(q.QuotaName))
	assert.Equal(t, "arn:aws:servicequotas:us-east-1:123456789012:ec2/L-DB2E81BA", aws.ToString(q.QuotaArn))
	assert.Equal(t, "None", aws.ToString(q.Unit))
	assert.Equal(t, "ec2", aws.ToString(q.ServiceCode))
	assert.True(t, q.Adjustable)
	assert.Equal(t, sqtypes.AppliedLevelEnumAccount, q.QuotaAppliedAtLevel)
	require.NotNil(t, q.UsageMetric)
	assert.Equal(t, "G/OnDemand", q.UsageMetric.MetricDimensions["Class"])
	assert.Equal(t, "vCPU", q.UsageMetric.MetricDimensions["Resource"])

	one, err := c.quotas.ListServiceQuotas(ctx, &servicequotas.ListServiceQuotasInput{
		ServiceCode: aws.String("ec2"), QuotaCode: aws.String("L-34B43A08")})
	require.NoError(t, err)
	require.Len(t, one.Quotas, 1)
	assert.Equal(t, "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests",
		aws.ToString(one.Quotas[0].QuotaName))

	_, err = c.quotas.ListServiceQuotas(ctx, &servicequotas.ListServiceQuotasInput{
		ServiceCode: aws.String("nope")})
	code, status := apiCode(t, err)
	assert.Equal(t, "NoSuchResourceException", code)
	assert.Equal(t, 400, status)
	_, err = c.quotas.ListServiceQuotas(ctx, &servicequotas.ListServiceQuotasInput{
		ServiceCode: aws.String("ec2"), NextToken: aws.String("bogus")})
	code, _ = apiCode(t, err)
	assert.Equal(t, "InvalidPaginationTokenException", code)
}

// TestVCPUQuotaAtLaunch launches until a market's class runs out of vCPUs:
// t3.micro has 2, g4dn.xlarge 4.
func TestVCPUQuotaAtLaunch(t *testing.T) {
	type launch struct {
		itype string
		spot  bool
		want  string // error code; empty for success
	}
	tests := []struct {
		name     string
		faults   string
		launches []launch
	}{
		{"on-demand quota counts running vCPUs", "ondemand-vcpu-quota=4", []launch{
			{"t3.micro", false, ""}, {"t3.micro", false, ""},
			{"t3.micro", false, "VcpuLimitExceeded"},
			{"t3.micro", true, ""}, // spot has its own quota
		}},
		{"spot quota per class", "spot-vcpu-quota=4", []launch{
			{"g4dn.xlarge", true, ""},
			{"g4dn.xlarge", true, "MaxSpotInstanceCountExceeded"},
			{"t3.micro", true, ""},     // another class
			{"g4dn.xlarge", false, ""}, // another market
		}},
		{"zero quota refuses the first launch", "spot-vcpu-quota=0", []launch{
			{"t3.micro", true, "MaxSpotInstanceCountExceeded"}, {"t3.micro", false, ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFaults(tt.faults)
			require.NoError(t, err)
			c := newClients(start(t, Options{Fast: true, Faults: f}), 1)
			ami := imageFor(t, al2023x86)
			for i, l := range tt.launches {
				_, err := c.ec2.RunInstances(context.Background(), runInputAMI(ami, l.itype, l.spot))
				if l.want == "" {
					require.NoError(t, err, "launch %d", i)
					continue
				}
				code, status := apiCode(t, err)
				assert.Equal(t, l.want, code, "launch %d", i)
				assert.Equal(t, 400, status)
			}
		})
	}
}

func TestTerminatedInstancesFreeTheirVCPUs(t *testing.T) {
	srv := start(t, Options{Fast: true, Faults: Faults{OnDemandVCPUQuota: aws.Int(2)}})
	c := newClients(srv, 1)
	ctx := context.Background()
	ami := imageFor(t, al2023x86)
	out, err := c.ec2.RunInstances(ctx, runInputAMI(ami, "t3.micro", false))
	require.NoError(t, err)
	_, err = c.ec2.RunInstances(ctx, runInputAMI(ami, "t3.micro", false))
	code, _ := apiCode(t, err)
	require.Equal(t, "VcpuLimitExceeded", code)

	_, err = c.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{
		InstanceIds: []string{aws.ToString(out.Instances[0].InstanceId)}})
	require.NoError(t, err)
	waitFor(t, 2*time.Second, "terminated", func() bool {
		inst, err := srv.Instance(aws.ToString(out.Instances[0].InstanceId))
		return err == nil && inst.State == "terminated"
	})
	_, err = c.ec2.RunInstances(ctx, runInputAMI(ami, "t3.micro", false))
	assert.NoError(t, err)
}
