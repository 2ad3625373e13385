package runctl

import (
	"context"
	"time"
)

// Event is something runctl reports while it works. The concrete types are
// the structs in this file; switch on them. Events reach the handler given
// with [WithEventHandler] synchronously, in order, from the goroutine doing
// the work, so a handler must not block.
type Event interface{ event() }

// Phase names a step of a run.
type Phase string

// The phases of a run, in the order they happen.
const (
	PhasePreflight   Phase = "preflight"
	PhasePrice       Phase = "price"
	PhaseLaunch      Phase = "launch"
	PhaseWaitRunning Phase = "wait-running"
	PhaseWaitSSM     Phase = "wait-ssm"
	PhaseSync        Phase = "sync"
	PhaseStart       Phase = "start"
	PhaseFollow      Phase = "follow"
	PhaseTerminate   Phase = "terminate"
	PhaseOutputs     Phase = "outputs"
	PhaseSetup       Phase = "setup"
)

// PhaseStarted reports that a phase began.
type PhaseStarted struct {
	Phase      Phase
	InstanceID string // empty before launch
	Detail     string
}

// PhaseFinished reports that a phase ended, with its error if it failed.
type PhaseFinished struct {
	Phase      Phase
	InstanceID string
	Elapsed    time.Duration
	Err        error
}

// WaitProgress reports a wait that is still going: what it waits for, the
// state seen last, how long it has waited and how long it may.
type WaitProgress struct {
	Phase      Phase
	InstanceID string
	State      string
	Elapsed    time.Duration
	Limit      time.Duration
}

// PriceQuote reports the prices runctl knows before it launches.
type PriceQuote struct {
	Quote Quote
}

// LaunchAttempt reports one RunInstances call that did not launch, and what
// runctl does next.
type LaunchAttempt struct {
	Market Market
	Zone   string
	Subnet string
	Err    *AWSError
	Next   string // "trying another zone", "falling back to on-demand", ...
}

// CostWarning reports a choice that costs more than the caller asked for,
// such as a fallback from spot to on-demand, or a spot price close to the
// on-demand one. Prices are hourly in US dollars; zero means unknown.
type CostWarning struct {
	InstanceType  string
	SpotPrice     float64
	OnDemandPrice float64
	Ratio         float64 // OnDemandPrice / SpotPrice, zero when either is unknown
	Reason        string
	Code          string // the AWS error code behind the fallback, if any
	Message       string // one plain sentence for a person
}

// InstanceLaunched reports an instance that exists and is being paid for.
type InstanceLaunched struct {
	Instance Instance
}

// InstanceStateChanged reports a state seen on an instance.
type InstanceStateChanged struct {
	InstanceID string
	State      string
	Reason     string
}

// SyncProgress reports code packaging and upload progress.
type SyncProgress struct {
	Files      int
	Bytes      int64
	TotalBytes int64
	Uploaded   bool // false while packaging, true once the object is in S3
	Skipped    bool // the same code was already in the bucket
}

// SyncNote reports something a person should know about what was shipped,
// such as a file left out because it looks like a secret.
type SyncNote struct {
	Message string
}

// LogOutput carries bytes the job wrote to its output, in order, with no gap
// and no repeat. Data is only valid during the handler call.
type LogOutput struct {
	InstanceID string
	JobID      string
	Offset     int64
	Data       []byte
}

// JobStarted reports a job running detached on an instance.
type JobStarted struct {
	Job Job
}

// JobFinished reports how a job ended, with its cost.
type JobFinished struct {
	Result Result
}

// PreflightChecked reports the checks made before launch, warnings
// included.
type PreflightChecked struct {
	Checks []Check
}

// OutputsUploaded reports a job's outputs stored in S3.
type OutputsUploaded struct {
	InstanceID string
	JobID      string
	URI        string
	Bytes      int64
}

// InstanceTerminated reports that AWS says an instance is terminated, or is
// shutting down past the wait limit when Final is false.
type InstanceTerminated struct {
	InstanceID string
	State      string
	Final      bool
}

func (PhaseStarted) event()         {}
func (PhaseFinished) event()        {}
func (WaitProgress) event()         {}
func (PriceQuote) event()           {}
func (LaunchAttempt) event()        {}
func (CostWarning) event()          {}
func (InstanceLaunched) event()     {}
func (InstanceStateChanged) event() {}
func (SyncProgress) event()         {}
func (SyncNote) event()             {}
func (LogOutput) event()            {}
func (JobStarted) event()           {}
func (JobFinished) event()          {}
func (InstanceTerminated) event()   {}
func (PreflightChecked) event()     {}
func (OutputsUploaded) event()      {}

// emit delivers e to the caller's handler.
func (c *Client) emit(ctx context.Context, e Event) { c.opts.handler(ctx, e) }
