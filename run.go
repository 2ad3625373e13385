package runctl

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// RunOptions configures [Client.Run]: the options of its create and train
// steps, and whether the instance outlives the run.
type RunOptions struct {
	Create []CreateOption
	Train  []TrainOption
	// Keep leaves the instance running when the run ends, for the caller to
	// terminate.
	Keep bool
	// Preflight, when set, is checked before anything is launched, in
	// place of CreateInstance's own narrower checks.
	Preflight *PreflightInput
}

// Run creates an instance, trains script on it and terminates it, whatever
// happens: on success, on a failed script, on any error and when ctx is
// cancelled. The instance is given a client timeout, so that it also ends
// itself if this process dies. Run returns the job's result when the job
// started, and the first error; a failed termination is joined to it.
func (c *Client) Run(ctx context.Context, instanceType, script string, o RunOptions) (res *Result, err error) {
	to := defaultTrainOptions()
	for _, opt := range o.Train {
		opt(&to)
	}
	if err := validateTrain(script, &to); err != nil {
		return nil, err
	}
	create := o.Create
	if o.Preflight != nil {
		rep := c.Preflight(ctx, *o.Preflight)
		if err := rep.Err(); err != nil {
			return nil, err
		}
		create = append(append([]CreateOption(nil), create...), WithoutPreflight())
	}
	if o.Keep {
		create = append(create, WithKeepOnFailure())
	}
	inst, err := c.CreateInstance(ctx, instanceType, create...)
	if err != nil {
		return nil, err
	}
	if !o.Keep {
		defer func() { err = errors.Join(err, c.teardown(ctx, inst.ID)) }()
	}
	train := append([]TrainOption{WithClientTimeout(15 * time.Minute)}, o.Train...)
	return c.Train(ctx, inst.ID, script, train...)
}

// teardown terminates id on a context that outlives the caller's, so a
// cancelled run still ends what it started.
func (c *Client) teardown(ctx context.Context, id string) error {
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.teardownTimeout)
	defer cancel()
	if err := c.terminate(tctx, id, terminateOptions{timeout: c.opts.teardownTimeout}); err != nil {
		return fmt.Errorf("instance %s may still be running, terminate it with 'runctl aws terminate %s': %w",
			id, id, err)
	}
	return nil
}
