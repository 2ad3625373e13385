package main

import (
	"context"
	"errors"

	"github.com/runctl/runctl"
)

// Exit codes. When the script ran and failed, runctl exits with the
// script's own status, as docker run does; runctl's own failures use codes
// above the range scripts and signals commonly use.
const (
	exitOK          = 0
	exitCancelled   = 130 // Ctrl-C, as a shell reports it
	exitUsage       = 240 // bad command line
	exitConfig      = 241 // bad input or a missing prerequisite, found before spending
	exitCapacity    = 242 // no capacity, a quota or the price cap stopped the launch
	exitInterrupted = 243 // AWS reclaimed the spot instance during the job
	exitTimeout     = 244 // a wait ran past its limit
	exitAWS         = 245 // AWS refused a call (credentials, permissions, throttling)
	exitInternal    = 246 // anything else
)

// usageError marks a command-line mistake.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// reportedError is a failure whose details a command has already printed:
// it is reported under a short message, and its exit code follows err.
type reportedError struct {
	msg string
	err error
}

func (e *reportedError) Error() string { return e.msg }
func (e *reportedError) Unwrap() error { return e.err }

// exitCode maps an error to the process exit code, in one place.
func exitCode(err error) int {
	var (
		usage *usageError
		job   *runctl.JobError
		cfg   *runctl.ConfigError
		pre   *runctl.PreflightError
		aws   *runctl.AWSError
	)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &usage):
		return exitUsage
	case errors.As(err, &job):
		if job.ExitCode > 0 && job.ExitCode < 256 {
			return job.ExitCode
		}
		return exitInternal
	case errors.Is(err, runctl.ErrInterrupted):
		return exitInterrupted
	case errors.Is(err, context.Canceled):
		return exitCancelled
	case errors.Is(err, runctl.ErrNoCapacity), errors.Is(err, runctl.ErrQuota),
		errors.Is(err, runctl.ErrPriceCap):
		return exitCapacity
	case errors.As(err, &cfg), errors.As(err, &pre), errors.Is(err, runctl.ErrNotManaged):
		return exitConfig
	case errors.Is(err, runctl.ErrTimeout):
		return exitTimeout
	case errors.As(err, &aws):
		return awsExit(aws)
	}
	if ae := runctl.Classify(err); ae != nil {
		return awsExit(ae)
	}
	return exitInternal
}

// awsExit maps an AWS error to an exit code by its scope.
func awsExit(ae *runctl.AWSError) int {
	if ae.Scope == runctl.ScopeConfig || ae.Scope == runctl.ScopeNotFound {
		return exitConfig
	}
	return exitAWS
}
