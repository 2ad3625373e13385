package sandbox

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// EnvFaults is the environment variable that runctl's programs read a fault
// list from; pass its value to [ParseFaults].
const EnvFaults = "RUNCTL_SANDBOX_FAULTS"

// Faults lists the failures a [Server] injects. The zero value injects none.
// Durations that are zero keep the server's defaults (see [Options.Fast]).
type Faults struct {
	// SpotCapacity fails every spot launch with InsufficientInstanceCapacity
	// (HTTP 500), in every zone.
	SpotCapacity bool
	// SpotCapacityZones fails spot launches with InsufficientInstanceCapacity
	// only in these zones, so a client can be shown retrying elsewhere.
	SpotCapacityZones []string
	// SpotQuota fails spot launches with MaxSpotInstanceCountExceeded. It
	// leaves the quotas Service Quotas lists as they are, as when an
	// account's limit is lower than the quota it reads.
	SpotQuota bool
	// SpotPrice fails spot launches with SpotMaxPriceTooLow.
	SpotPrice bool
	// OnDemandCapacity fails on-demand launches with
	// InsufficientInstanceCapacity (HTTP 500), in every zone.
	OnDemandCapacity bool
	// OnDemandQuota fails on-demand launches with VcpuLimitExceeded. Like
	// SpotQuota it leaves the listed quotas alone.
	OnDemandQuota bool
	// SpotVCPUQuota, when set, is the value of every "All <class> Spot
	// Instance Requests" quota, in vCPUs; nil means 256. Spot launches that
	// would take a class's running spot instances past it fail with
	// MaxSpotInstanceCountExceeded.
	SpotVCPUQuota *int
	// OnDemandVCPUQuota, when set, is the value of every "Running On-Demand
	// <class> instances" quota; nil means 256. On-demand launches past it
	// fail with VcpuLimitExceeded.
	OnDemandVCPUQuota *int
	// Throttle makes the next N API calls (S3 and IMDS excepted) answer with
	// the service's throttling error: RequestLimitExceeded (HTTP 503) on EC2.
	Throttle int
	// BootDelay is how long an instance stays pending.
	BootDelay time.Duration
	// SSMDelay is how long after running the SSM agent reports Online.
	SSMDelay time.Duration
	// SSMNever keeps the SSM agent from ever reporting Online.
	SSMNever bool
	// InterruptAfter schedules a spot interruption notice this long after the
	// first job on a spot instance starts. It is recorded on the instance at
	// launch, so every process serving the state directory enforces it.
	InterruptAfter time.Duration
	// InterruptWindow is the time between the notice and the termination;
	// zero means 3s.
	InterruptWindow time.Duration
	// IAMPropagation is how long a new instance profile stays unknown to
	// EC2: RunInstances, dry runs included, refuses it until then. Zero
	// means 1s, or none with Options.Fast.
	IAMPropagation time.Duration
}

// faultSpec describes one fault name: whether it takes a value and how the
// value is stored.
type faultSpec struct {
	name  string
	apply func(f *Faults, value string) error
}

var faultSpecs = []faultSpec{
	{"spot-capacity", flag(func(f *Faults) { f.SpotCapacity = true })},
	{"spot-capacity-zone", func(f *Faults, v string) error {
		if !validZoneName(v) {
			return fmt.Errorf("want a zone name such as us-east-1a, got %q", v)
		}
		f.SpotCapacityZones = append(f.SpotCapacityZones, v)
		return nil
	}},
	{"spot-quota", flag(func(f *Faults) { f.SpotQuota = true })},
	{"spot-price", flag(func(f *Faults) { f.SpotPrice = true })},
	{"ondemand-capacity", flag(func(f *Faults) { f.OnDemandCapacity = true })},
	{"ondemand-quota", flag(func(f *Faults) { f.OnDemandQuota = true })},
	{"spot-vcpu-quota", vcpus(func(f *Faults) **int { return &f.SpotVCPUQuota })},
	{"ondemand-vcpu-quota", vcpus(func(f *Faults) **int { return &f.OnDemandVCPUQuota })},
	{"throttle", func(f *Faults, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("want a positive count, got %q", v)
		}
		f.Throttle = n
		return nil
	}},
	{"boot-delay", duration(func(f *Faults) *time.Duration { return &f.BootDelay })},
	{"ssm-delay", duration(func(f *Faults) *time.Duration { return &f.SSMDelay })},
	{"ssm-never", flag(func(f *Faults) { f.SSMNever = true })},
	{"interrupt-after", duration(func(f *Faults) *time.Duration { return &f.InterruptAfter })},
	{"interrupt-window", duration(func(f *Faults) *time.Duration { return &f.InterruptWindow })},
	{"iam-propagation", duration(func(f *Faults) *time.Duration { return &f.IAMPropagation })},
}

// FaultNames returns the fault names [ParseFaults] accepts, in a fixed order.
func FaultNames() []string {
	names := make([]string, len(faultSpecs))
	for i, s := range faultSpecs {
		names[i] = s.name
	}
	return names
}

// ParseFaults parses a comma-separated list of faults, each `name` or
// `name=value`, as found in RUNCTL_SANDBOX_FAULTS. Durations use Go syntax
// (300ms, 2s). An empty string is no faults. An unknown name or a bad value
// is an error that names the valid faults.
func ParseFaults(s string) (Faults, error) {
	var f Faults
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, value, _ := strings.Cut(item, "=")
		i := slices.IndexFunc(faultSpecs, func(s faultSpec) bool { return s.name == name })
		if i < 0 {
			return Faults{}, fmt.Errorf("unknown sandbox fault %q (valid: %s)",
				name, strings.Join(FaultNames(), ", "))
		}
		if err := faultSpecs[i].apply(&f, value); err != nil {
			return Faults{}, fmt.Errorf("sandbox fault %s: %w (valid: %s)",
				name, err, strings.Join(FaultNames(), ", "))
		}
	}
	return f, nil
}

// String formats f in the syntax [ParseFaults] reads.
func (f Faults) String() string {
	var parts []string
	add := func(on bool, s string) {
		if on {
			parts = append(parts, s)
		}
	}
	add(f.SpotCapacity, "spot-capacity")
	for _, z := range f.SpotCapacityZones {
		parts = append(parts, "spot-capacity-zone="+z)
	}
	add(f.SpotQuota, "spot-quota")
	add(f.SpotPrice, "spot-price")
	add(f.OnDemandCapacity, "ondemand-capacity")
	add(f.OnDemandQuota, "ondemand-quota")
	if f.SpotVCPUQuota != nil {
		parts = append(parts, "spot-vcpu-quota="+strconv.Itoa(*f.SpotVCPUQuota))
	}
	if f.OnDemandVCPUQuota != nil {
		parts = append(parts, "ondemand-vcpu-quota="+strconv.Itoa(*f.OnDemandVCPUQuota))
	}
	add(f.Throttle > 0, "throttle="+strconv.Itoa(f.Throttle))
	add(f.BootDelay > 0, "boot-delay="+f.BootDelay.String())
	add(f.SSMDelay > 0, "ssm-delay="+f.SSMDelay.String())
	add(f.SSMNever, "ssm-never")
	add(f.InterruptAfter > 0, "interrupt-after="+f.InterruptAfter.String())
	add(f.InterruptWindow > 0, "interrupt-window="+f.InterruptWindow.String())
	add(f.IAMPropagation > 0, "iam-propagation="+f.IAMPropagation.String())
	return strings.Join(parts, ",")
}

// flag adapts a fault that takes no value.
func flag(set func(*Faults)) func(*Faults, string) error {
	return func(f *Faults, v string) error {
		if v != "" {
			return fmt.Errorf("takes no value, got %q", v)
		}
		set(f)
		return nil
	}
}

// duration adapts a fault whose value is a positive Go duration.
func duration(field func(*Faults) *time.Duration) func(*Faults, string) error {
	return func(f *Faults, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("want a positive duration such as 2s, got %q", v)
		}
		*field(f) = d
		return nil
	}
}

// vcpus adapts a fault whose value is a vCPU count, zero included.
func vcpus(field func(*Faults) **int) func(*Faults, string) error {
	return func(f *Faults, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("want a vCPU count of 0 or more, got %q", v)
		}
		*field(f) = &n
		return nil
	}
}

// validZoneName reports whether z looks like region plus a zone letter.
func validZoneName(z string) bool {
	if len(z) < 4 {
		return false
	}
	last := z[len(z)-1]
	return last >= 'a' && last <= 'z' && z[len(z)-2] >= '0' && z[len(z)-2] <= '9'
}
