// Package runctl runs a machine-learning training script on an AWS EC2
// instance: it launches the instance (spot when asked, falling back to
// on-demand and saying what that costs), ships the local code to it, runs
// the script detached, streams its output, reports its exit code, duration
// and cost, and terminates the instance.
//
// # Create, train, terminate
//
//	c, err := runctl.New(ctx,
//		runctl.WithRegion("us-east-1"),
//		runctl.WithBucket("my-runctl-bucket"),
//		runctl.WithEventHandler(func(ctx context.Context, e runctl.Event) {
//			if w, ok := e.(runctl.CostWarning); ok {
//				log.Print(w.Message)
//			}
//		}))
//	if err != nil {
//		return err
//	}
//	inst, err := c.CreateInstance(ctx, "g4dn.xlarge", runctl.Spot(),
//		runctl.WithInstanceProfile("runctl-ssm"), runctl.WithMaxLifetime(12*time.Hour))
//	if err != nil {
//		return err // nothing is left running
//	}
//	defer c.Terminate(context.WithoutCancel(ctx), inst.ID)
//	res, err := c.Train(ctx, inst.ID, "training/train.py", runctl.WithArgs("--epochs", "3"))
//	if err != nil {
//		return err // a *JobError carries the exit code and the last lines
//	}
//	fmt.Printf("exit %d after %v, cost $%.4f\n", res.ExitCode, res.Duration, res.Cost)
//
// [Client.CreateInstance] returns only once the instance runs and its SSM
// agent is online; whatever it launched is terminated when it fails or its
// context is cancelled. [Client.Train] returns only after the script's exit
// code is known and every byte of its output was delivered as [LogOutput]
// events. [Client.Terminate] returns once AWS reports the instance
// terminated.
//
// # Events
//
// Progress is reported through typed events ([WaitProgress], [CostWarning],
// [SyncProgress], [LogOutput], [JobFinished] and others) delivered
// synchronously to the handler set with [WithEventHandler]. A handler must
// not block.
//
// # Errors
//
// Errors carry what a caller branches on: [*AWSError] classifies AWS error
// codes by [Scope] with a plain explanation and a fix; [*LaunchError] lists
// every launch attempt; [*JobError] carries a failed script's exit code;
// [*InterruptedError] a spot interruption. The sentinels [ErrNoCapacity],
// [ErrQuota], [ErrPriceCap], [ErrInterrupted], [ErrTimeout] and
// [ErrNotManaged] work with errors.Is.
//
// # Testing
//
// Every AWS client is an interface ([EC2API], [SSMAPI], [S3API], [IAMAPI],
// [STSAPI], [PricingAPI]) that the SDK's client satisfies, so callers can
// inject fakes with [WithEC2] and friends. The sandbox package serves the
// same wire protocols on loopback, so the real clients can be tested end to
// end with no AWS account: point the client at it with [WithEndpoint].
package runctl
