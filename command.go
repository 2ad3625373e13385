package runctl

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// CommandError reports a shell command sent through SSM that did not
// succeed.
type CommandError struct {
	InstanceID string
	CommandID  string
	Status     string
	ExitCode   int32
	Stderr     string
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("command %s on %s ended %s (exit %d): %s",
		e.CommandID, e.InstanceID, e.Status, e.ExitCode, e.Stderr)
}

// runCommand runs script with bash on the instance through SSM and returns
// its standard output. limit bounds the command on the instance and the
// wait for it here.
func (c *Client) runCommand(ctx context.Context, id, script string, limit time.Duration) (string, error) {
	out, err := c.ssm.SendCommand(ctx, &ssm.SendCommandInput{
		DocumentName: aws.String("AWS-RunShellScript"),
		InstanceIds:  []string{id},
		Parameters: map[string][]string{
			"commands":         {script},
			"executionTimeout": {strconv.Itoa(int(limit.Seconds()))},
		},
		Comment: aws.String("runctl"),
	})
	if err != nil {
		return "", fmt.Errorf("sending command to %s: %w", id, err)
	}
	cmdID := aws.ToString(out.Command.CommandId)
	c.log.Debug("command sent", "instance_id", id, "command_id", cmdID)
	return c.commandOutput(ctx, id, cmdID, limit)
}

// commandOutput waits for a command to end. Right after SendCommand, SSM may
// not know the invocation yet and answers InvocationDoesNotExist.
func (c *Client) commandOutput(ctx context.Context, id, cmdID string, limit time.Duration) (string, error) {
	clock := c.opts.clock
	start := clock.Now()
	deadline := start.Add(limit + time.Minute)

	// Asking before a command can have ended costs a call and learns
	// nothing, so the first ask waits about as long as commands took lately.
	first := c.cmdTime.expected(commandPollMin(c.opts.pollMin))
	if !c.sleep(ctx, first) {
		return "", ctx.Err()
	}
	interval := max(first/4, 20*time.Millisecond)
	for {
		inv, err := c.ssm.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{
			CommandId: aws.String(cmdID), InstanceId: aws.String(id),
		})
		if err != nil && !isNotFound(err) {
			return "", fmt.Errorf("reading command %s on %s: %w", cmdID, id, err)
		}
		if err == nil {
			switch inv.Status {
			case ssmtypes.CommandInvocationStatusSuccess:
				c.cmdTime.observe(clock.Now().Sub(start))
				return aws.ToString(inv.StandardOutputContent), nil
			case ssmtypes.CommandInvocationStatusFailed, ssmtypes.CommandInvocationStatusCancelled,
				ssmtypes.CommandInvocationStatusTimedOut:
				return aws.ToString(inv.StandardOutputContent), &CommandError{InstanceID: id, CommandID: cmdID,
					Status: string(inv.Status), ExitCode: inv.ResponseCode,
					Stderr: aws.ToString(inv.StandardErrorContent)}
			}
		}
		if clock.Now().After(deadline) {
			return "", &TimeoutError{Phase: PhaseFollow, InstanceID: id, Limit: limit, State: "command " + cmdID}
		}
		if !c.sleep(ctx, interval) {
			return "", ctx.Err()
		}
		interval = min(interval*2, 2*time.Second)
	}
}

// commandPollMin is the first pause while a command runs. SSM takes about
// half a second to run even a trivial command, so asking sooner only adds
// calls.
func commandPollMin(pollMin time.Duration) time.Duration {
	return min(max(pollMin/2, 20*time.Millisecond), 500*time.Millisecond)
}

// commandTimer keeps a running estimate of how long a short command takes
// from SendCommand to its result. It is safe for concurrent use.
type commandTimer struct {
	mu   sync.Mutex
	ewma time.Duration // zero until the first observation
}

// expected returns the estimate, or fallback before there is one.
func (t *commandTimer) expected(fallback time.Duration) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ewma == 0 {
		return fallback
	}
	return min(max(t.ewma*9/10, 20*time.Millisecond), 2*time.Second)
}

// observe folds in one command's time. Long commands (an upload, a large
// download) say nothing about the next poll, so they are left out.
func (t *commandTimer) observe(d time.Duration) {
	if d <= 0 || d > 5*time.Second {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ewma == 0 {
		t.ewma = d
		return
	}
	t.ewma = (7*t.ewma + 3*d) / 10
}
