package runctl

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/smithy-go"
)

// Sentinel errors for errors.Is.
var (
	// ErrNotManaged means the instance lacks runctl's tag; use [Force] to
	// terminate it anyway.
	ErrNotManaged = errors.New("instance was not launched by runctl")
	// ErrNoCapacity means no market and zone tried had capacity.
	ErrNoCapacity = errors.New("no capacity for the instance type")
	// ErrQuota means an account quota stopped the launch.
	ErrQuota = errors.New("account quota reached")
	// ErrPriceCap means every launch possible cost more than the cap.
	ErrPriceCap = errors.New("price above the hourly cap")
	// ErrInterrupted means AWS reclaimed a spot instance during the job.
	ErrInterrupted = errors.New("spot instance interrupted")
	// ErrTimeout means a wait ran past its limit.
	ErrTimeout = errors.New("wait timed out")
)

// Scope says how far an AWS error reaches, and so what can help.
type Scope string

// The scopes of AWS errors.
const (
	// ScopeZone: this zone lacks capacity now; another zone or later may work.
	ScopeZone Scope = "zone-capacity"
	// ScopeQuota: an account quota for the region; other zones do not help.
	ScopeQuota Scope = "account-quota"
	// ScopePrice: the spot price is above the maximum offered.
	ScopePrice Scope = "price"
	// ScopeThrottle: too many requests; waiting helps.
	ScopeThrottle Scope = "throttling"
	// ScopeAuth: credentials or permissions; nothing helps but a fix.
	ScopeAuth Scope = "auth"
	// ScopeConfig: a wrong parameter; nothing helps but a fix.
	ScopeConfig Scope = "configuration"
	// ScopeNotFound: the named resource does not exist (or not yet).
	ScopeNotFound Scope = "not-found"
	// ScopeUnknown: runctl does not know this code.
	ScopeUnknown Scope = "unknown"
)

// AWSError is an AWS API error with runctl's reading of it.
type AWSError struct {
	Op          string // the API call, such as "RunInstances"
	Code        string // AWS's error code
	Message     string // AWS's message
	Scope       Scope
	Market      Market // the market of a launch, when the call was one
	Explanation string // what it means, in plain words
	Fix         string // what to do about it, when something can be done
	Err         error
}

func (e *AWSError) Error() string {
	s := fmt.Sprintf("%s: %s: %s", e.Op, e.Code, e.Explanation)
	if e.Scope == ScopeUnknown || e.Scope == ScopeConfig {
		// runctl's reading is generic here; AWS's own words say which value.
		if msg := strings.TrimSpace(e.Message); msg != "" {
			s += ": " + msg
		}
	}
	if e.Fix != "" {
		s += " (" + e.Fix + ")"
	}
	return s
}

func (e *AWSError) Unwrap() error { return e.Err }

// Is lets errors.Is match an AWSError against the sentinels of its scope.
func (e *AWSError) Is(target error) bool {
	switch target {
	case ErrNoCapacity:
		return e.Scope == ScopeZone
	case ErrQuota:
		return e.Scope == ScopeQuota
	}
	return false
}

// codeInfo is what runctl knows of one AWS error code.
type codeInfo struct {
	scope       Scope
	explanation string
	fix         string
}

// codes classifies the AWS error codes runctl meets. EC2 errors carry no
// modeled types, so the code string is the only thing to go on.
var codes = map[string]codeInfo{
	"InsufficientInstanceCapacity": {ScopeZone,
		"AWS has no capacity for this instance type in this zone right now",
		"try another zone or instance type, or try again later"},
	"InsufficientHostCapacity": {ScopeZone,
		"AWS has no host capacity for this instance type in this zone right now",
		"try another zone or instance type"},
	"Unsupported": {ScopeZone,
		"this instance type or option is not offered in this zone",
		"try another zone (subnet) or instance type"},
	"InsufficientFreeAddressesInSubnet": {ScopeZone,
		"the subnet has no free IP addresses",
		"use another subnet"},
	"VcpuLimitExceeded": {ScopeQuota,
		"the account's vCPU quota for this instance family is used up in this region",
		"request a higher 'Running On-Demand instances' or 'All Spot Instance Requests' quota in Service Quotas, or terminate other instances"},
	"MaxSpotInstanceCountExceeded": {ScopeQuota,
		"the account's spot instance quota is used up in this region",
		"request a higher 'All Spot Instance Requests' quota in Service Quotas, or use on-demand"},
	"InstanceLimitExceeded": {ScopeQuota,
		"the account's instance quota is used up in this region",
		"request a higher quota in Service Quotas, or terminate other instances"},
	"SpotMaxPriceTooLow": {ScopePrice,
		"the current spot price is above the maximum price offered",
		"raise --max-price-per-hour or use on-demand"},
	"RequestLimitExceeded":     {ScopeThrottle, "AWS is throttling requests from this account", "wait and try again"},
	"Throttling":               {ScopeThrottle, "AWS is throttling requests from this account", "wait and try again"},
	"ThrottlingException":      {ScopeThrottle, "AWS is throttling requests from this account", "wait and try again"},
	"TooManyRequestsException": {ScopeThrottle, "AWS is throttling requests from this account", "wait and try again"},
	"UnauthorizedOperation": {ScopeAuth,
		"the credentials in use are not allowed to make this call",
		"grant the permission listed in the README's IAM policy"},
	"AuthFailure": {ScopeAuth,
		"AWS did not accept the credentials",
		"check AWS_PROFILE / credentials (aws sts get-caller-identity)"},
	"InvalidClientTokenId": {ScopeAuth,
		"AWS does not know this access key",
		"check AWS_PROFILE / credentials (aws sts get-caller-identity)"},
	"ExpiredToken": {ScopeAuth,
		"the session credentials have expired",
		"refresh them (aws sso login, or new session credentials)"},
	"AccessDenied":          {ScopeAuth, "access denied", "grant the permission listed in the README's IAM policy"},
	"AccessDeniedException": {ScopeAuth, "access denied", "grant the permission listed in the README's IAM policy"},
	"OptInRequired": {ScopeAuth,
		"the account is not subscribed to this service or region",
		"enable the region for the account"},
	"InvalidParameterValue": {ScopeConfig,
		"a launch parameter was rejected", "check the values passed"},
	"InvalidParameterCombination": {ScopeConfig,
		"the launch parameters do not go together", "check the values passed"},
	"InvalidAMIID.NotFound":      {ScopeConfig, "the AMI does not exist in this region", "pass an AMI of this region with --ami"},
	"InvalidAMIID.Malformed":     {ScopeConfig, "the AMI ID is malformed", "pass an ID like ami-0123456789abcdef0"},
	"InvalidSubnetID.NotFound":   {ScopeConfig, "the subnet does not exist in this region", "pass a subnet of this region"},
	"InvalidGroup.NotFound":      {ScopeConfig, "the security group does not exist", "pass a security group of this VPC"},
	"InvalidKeyPair.NotFound":    {ScopeConfig, "the key pair does not exist in this region", "create it or drop --key-name"},
	"InvalidInstanceID.NotFound": {ScopeNotFound, "no such instance", "check the instance ID and region (runctl aws list)"},
	"InvalidInstanceID.Malformed": {ScopeConfig,
		"the instance ID is malformed", "pass an ID like i-0123456789abcdef0"},
	"InvalidInstanceId":      {ScopeNotFound, "the instance is not reachable through SSM", "check that it is running and its SSM agent is online"},
	"InvalidInstanceType":    {ScopeConfig, "the instance type does not exist", "check the spelling (runctl prices TYPE)"},
	"InvocationDoesNotExist": {ScopeNotFound, "the command is not registered yet", ""},
	"ParameterNotFound": {ScopeConfig, "the public parameter naming the AMI does not exist in this region",
		"pass an AMI of this region with --ami"},
	"MissingParameter": {ScopeConfig, "a required parameter is missing", "check the values passed"},
	"NoSuchEntity":     {ScopeConfig, "the IAM resource does not exist", "run runctl aws setup"},
	"NoSuchBucket":     {ScopeConfig, "the bucket does not exist", "create it or pass another with --bucket"},
}

// classify turns err into an *AWSError when it carries an AWS error code,
// and returns nil otherwise.
func classify(op string, err error) *AWSError {
	var ae *AWSError
	if errors.As(err, &ae) {
		return ae
	}
	var api smithy.APIError
	if !errors.As(err, &api) {
		return nil
	}
	info, ok := codes[api.ErrorCode()]
	if !ok {
		info = codeInfo{ScopeUnknown, "AWS refused the request", ""}
		if api.ErrorFault() == smithy.FaultServer {
			info.explanation = "AWS had an internal error"
		}
	}
	if strings.Contains(strings.ToLower(api.ErrorMessage()), "iam instance profile") {
		// AWS reports an unknown or not yet propagated instance profile as
		// InvalidParameterValue; only the message tells the two apart.
		info.explanation = "the IAM instance profile is unknown to EC2 (missing, or created moments ago)"
		info.fix = "run runctl aws setup, or wait a minute after creating the profile"
	}
	return &AWSError{Op: op, Code: api.ErrorCode(), Message: api.ErrorMessage(),
		Scope: info.scope, Explanation: info.explanation, Fix: info.fix, Err: err}
}

// Classify returns runctl's reading of the AWS error in err's chain: its
// code, scope, a plain explanation and the fix. It returns nil when err
// carries no AWS error code.
func Classify(err error) *AWSError {
	if err == nil {
		return nil
	}
	return classify("", err)
}

// scopeOf returns the scope of err, or ScopeUnknown.
func scopeOf(err error) Scope {
	if ae := classify("", err); ae != nil {
		return ae.Scope
	}
	return ScopeUnknown
}

// isNotFound reports whether err is an AWS not-found error, which EC2 returns
// for a few seconds after launch because its API is eventually consistent.
func isNotFound(err error) bool { return scopeOf(err) == ScopeNotFound }

// LaunchError reports a CreateInstance call that launched nothing: every
// attempt, in order, and why runctl stopped trying.
type LaunchError struct {
	InstanceType string
	Attempts     []*AWSError
	Reason       string
}

func (e *LaunchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "could not launch %s: %s", e.InstanceType, e.Reason)
	for _, a := range e.Attempts {
		fmt.Fprintf(&b, "\n  - %s %s", a.Market, a.Error())
	}
	return b.String()
}

// Unwrap returns the attempts' errors, so errors.Is finds ErrNoCapacity or
// ErrQuota and errors.As finds each *AWSError.
func (e *LaunchError) Unwrap() []error {
	out := make([]error, len(e.Attempts))
	for i, a := range e.Attempts {
		out[i] = a
	}
	return out
}

// PriceCapError reports a launch refused because its price is above the
// caller's cap.
type PriceCapError struct {
	InstanceType string
	Market       Market
	Price        float64
	Cap          float64
	Cause        error // what made runctl consider this market, if anything
}

func (e *PriceCapError) Error() string {
	s := fmt.Sprintf("refusing %s %s at $%.4f/hour: above the cap of $%.4f/hour",
		e.Market, e.InstanceType, e.Price, e.Cap)
	if e.Cause != nil {
		s += " (after: " + e.Cause.Error() + ")"
	}
	return s + "; raise --max-price-per-hour or pick a cheaper instance type"
}

func (e *PriceCapError) Unwrap() []error {
	if e.Cause != nil {
		return []error{ErrPriceCap, e.Cause}
	}
	return []error{ErrPriceCap}
}

// TimeoutError reports a wait that ran past its limit.
type TimeoutError struct {
	Phase      Phase
	InstanceID string
	Limit      time.Duration
	State      string // the last state seen
	Hint       string
}

func (e *TimeoutError) Error() string {
	s := fmt.Sprintf("%s: %s still %q after %v", e.Phase, e.InstanceID, e.State, e.Limit)
	if e.Hint != "" {
		s += ": " + e.Hint
	}
	return s
}

func (e *TimeoutError) Unwrap() error { return ErrTimeout }

// ConfigError reports bad input or a missing setting, found before anything
// was paid for.
type ConfigError struct {
	Problem string
	Fix     string
}

func (e *ConfigError) Error() string {
	if e.Fix == "" {
		return e.Problem
	}
	return e.Problem + ": " + e.Fix
}

// PhaseError says which phase of a run an error happened in.
type PhaseError struct {
	Phase      Phase
	InstanceID string
	Err        error
}

func (e *PhaseError) Error() string {
	if e.InstanceID != "" {
		return fmt.Sprintf("%s (%s): %v", e.Phase, e.InstanceID, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Phase, e.Err)
}

func (e *PhaseError) Unwrap() error { return e.Err }
