package sandbox

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseFaults(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Faults
		wantErr string
	}{
		{name: "empty", in: "", want: Faults{}},
		{name: "flags", in: "spot-capacity, spot-quota,ssm-never",
			want: Faults{SpotCapacity: true, SpotQuota: true, SSMNever: true}},
		{name: "values", in: "throttle=3,boot-delay=2s,interrupt-after=1m,interrupt-window=500ms",
			want: Faults{Throttle: 3, BootDelay: 2 * time.Second, InterruptAfter: time.Minute,
				InterruptWindow: 500 * time.Millisecond}},
		{name: "vcpu quotas, zero included", in: "spot-vcpu-quota=0,ondemand-vcpu-quota=16",
			want: Faults{SpotVCPUQuota: aws.Int(0), OnDemandVCPUQuota: aws.Int(16)}},
		{name: "iam propagation", in: "iam-propagation=2s", want: Faults{IAMPropagation: 2 * time.Second}},
		{name: "bad vcpu quota", in: "spot-vcpu-quota=-4", wantErr: "vCPU count"},
		{name: "vcpu quota needs a value", in: "ondemand-vcpu-quota", wantErr: "vCPU count"},
		{name: "zones accumulate", in: "spot-capacity-zone=us-east-1a,spot-capacity-zone=us-east-1b",
			want: Faults{SpotCapacityZones: []string{"us-east-1a", "us-east-1b"}}},
		{name: "unknown", in: "spot-capacityy", wantErr: `unknown sandbox fault "spot-capacityy"`},
		{name: "bad duration", in: "boot-delay=soon", wantErr: "boot-delay"},
		{name: "zero duration", in: "ssm-delay=0s", wantErr: "positive duration"},
		{name: "bad count", in: "throttle=-1", wantErr: "positive count"},
		{name: "value on flag", in: "spot-price=1", wantErr: "takes no value"},
		{name: "bad zone", in: "spot-capacity-zone=east", wantErr: "zone name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFaults(tt.in)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Contains(t, err.Error(), "valid: spot-capacity, spot-capacity-zone")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			again, err := ParseFaults(got.String())
			require.NoError(t, err)
			assert.Equal(t, got, again, "String must round-trip")
		})
	}
}

func TestFaultNamesIsACopy(t *testing.T) {
	names := FaultNames()
	require.Contains(t, names, "interrupt-after")
	names[0] = "changed"
	assert.Equal(t, "spot-capacity", FaultNames()[0])
}
