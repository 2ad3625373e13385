package runctl

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Orphan is an instance runctl launched that no live run seems to own.
type Orphan struct {
	Instance Instance
	Reason   string
}

// FindOrphans lists runctl's instances older than olderThan that are not
// running a job: stopped ones, ones whose SSM agent does not answer, and
// running ones with no job in progress. It never lists an instance without
// runctl's tag. It changes nothing; terminate what it returns with
// [Client.Terminate].
func (c *Client) FindOrphans(ctx context.Context, olderThan time.Duration) ([]Orphan, error) {
	insts, err := c.List(ctx)
	if err != nil {
		return nil, err
	}
	now := c.opts.clock.Now()
	var out []Orphan
	for _, inst := range insts {
		if !inst.Managed || now.Sub(inst.LaunchTime) < olderThan {
			continue
		}
		if reason := c.orphanReason(ctx, inst); reason != "" {
			out = append(out, Orphan{Instance: inst, Reason: reason})
		}
	}
	return out, nil
}

// busyProbe counts the jobs on an instance that have a runner and no exit
// code yet, and counts a client that polled in the last two minutes as one
// more: a run that is still reading the log owns the instance.
const busyProbe = `home="${RUNCTL_HOME:-/opt/runctl}"; n=0
for d in "$home"/jobs/*/; do d=${d%/}; [ -L "$d" ] && continue
  [ -f "$d/pid" ] && [ ! -f "$d/exit_code" ] && kill -0 "$(cat "$d/pid")" 2>/dev/null && n=$((n+1))
done
beat=$(cat "$home/client-heartbeat" 2>/dev/null || echo 0)
[ $(( $(date +%s) - beat )) -lt 120 ] && n=$((n+1))
echo "busy $n"`

func (c *Client) orphanReason(ctx context.Context, inst Instance) string {
	switch inst.State {
	case "stopped", "stopping":
		return "stopped (its volume still costs money)"
	case "shutting-down":
		return ""
	}
	out, err := c.runCommand(ctx, inst.ID, busyProbe, 30*time.Second)
	if err != nil {
		return "its SSM agent does not answer, so no run can be using it"
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(out), "busy")))
	if err != nil {
		return fmt.Sprintf("it answered oddly (%q)", strings.TrimSpace(out))
	}
	if n == 0 {
		return "no job is running on it"
	}
	return ""
}
