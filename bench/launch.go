package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/runctl/runctl"
	"github.com/runctl/runctl/sandbox"
)

// FastLaunchTarget bounds the launch overhead in the sandbox's fast mode.
const FastLaunchTarget = time.Second

// LaunchSpec is one launch setting.
type LaunchSpec struct {
	Name string
	// Boot is how long an instance stays pending and Agent how long its
	// agent then takes to come online; zero for both is the sandbox's fast
	// mode, where an instance is ready as it launches. Launch i waits
	// i × Jitter longer for the agent, so that readiness falls at a
	// different point of the library's pause each time.
	Boot, Agent, Jitter time.Duration
	PollMin, PollMax    time.Duration
	Runs                int
}

// faults returns the sandbox faults of launch i.
func (s LaunchSpec) faults(i int) string {
	if s.Boot == 0 && s.Agent == 0 {
		return ""
	}
	agent := s.Agent + time.Duration(i)*s.Jitter
	return fmt.Sprintf("boot-delay=%s,ssm-delay=%s", s.Boot, agent)
}

// Launch is one CreateInstance measured against the sandbox's own clock.
type Launch struct {
	Ready    time.Time     // the sandbox first reported running and Online
	Returned time.Time     // CreateInstance returned
	Total    time.Duration // CreateInstance from call to return
	// Interval is the pause before the poll that found the instance ready,
	// or zero when the first poll of each wait found it so.
	Interval time.Duration
}

// Overhead is the time from the sandbox reporting ready to CreateInstance
// returning, or zero when the library returned before the watcher, which
// looks every 2 ms, saw the instance ready.
func (l Launch) Overhead() time.Duration { return max(l.Returned.Sub(l.Ready), 0) }

// LaunchOverhead runs spec.Runs CreateInstance calls, each against a fresh
// sandbox under dir, watching the sandbox's own view of each instance.
func LaunchOverhead(ctx context.Context, dir string, spec LaunchSpec) ([]Launch, error) {
	var out []Launch
	for i := range max(spec.Runs, 1) {
		l, err := launchIn(ctx, filepath.Join(dir, strconv.Itoa(i)), spec, i)
		if err != nil {
			return out, fmt.Errorf("launch %d of %s: %w", i+1, spec.Name, err)
		}
		out = append(out, l)
	}
	return out, nil
}

func launchIn(ctx context.Context, dir string, spec LaunchSpec, i int) (Launch, error) {
	srv, err := StartSandbox(ctx, dir, spec.faults(i))
	if err != nil {
		return Launch{}, err
	}
	defer srv.Close()
	return launchOnce(ctx, srv, spec)
}

func launchOnce(ctx context.Context, srv *sandbox.Server, spec LaunchSpec) (Launch, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watch := &readyWatch{done: make(chan struct{})}
	w, err := NewClient(ctx, srv, ClientSpec{PollMin: spec.PollMin, PollMax: spec.PollMax,
		OnEvent: func(_ context.Context, e runctl.Event) {
			if l, ok := e.(runctl.InstanceLaunched); ok {
				go watch.run(ctx, srv, l.Instance.ID)
			}
		}})
	if err != nil {
		return Launch{}, err
	}

	start := time.Now()
	inst, err := w.Client.CreateInstance(ctx, "t3.micro")
	returned := time.Now()
	if err != nil {
		return Launch{}, err
	}
	defer func() { _ = w.Client.Terminate(context.WithoutCancel(ctx), inst.ID, runctl.NoWait()) }()

	select {
	case <-watch.done:
	case <-time.After(5 * time.Second):
		return Launch{}, fmt.Errorf("the sandbox never reported %s running and online", inst.ID)
	}
	l := Launch{Ready: watch.at(), Returned: returned, Total: returned.Sub(start)}
	l.Interval = pauseBefore(w.Calls.Calls(start), l.Ready)
	return l, nil
}

// pauseBefore returns the gap between the last two wait polls
// (DescribeInstances or DescribeInstanceInformation) when the last one is
// the first to come after ready: the pause the library was in when the
// instance became ready.
func pauseBefore(calls []Call, ready time.Time) time.Duration {
	var polls []time.Time
	for _, c := range calls {
		if c.Op == "DescribeInstances" || c.Op == "DescribeInstanceInformation" {
			polls = append(polls, c.At)
		}
	}
	for i := 1; i < len(polls); i++ {
		if !polls[i].Before(ready) {
			if polls[i-1].Before(ready) {
				return polls[i].Sub(polls[i-1])
			}
			return 0
		}
	}
	return 0
}

// readyWatch asks the sandbox every 2 ms whether an instance is running
// with its agent online, and keeps when it first was.
type readyWatch struct {
	mu    sync.Mutex
	ready time.Time
	done  chan struct{}
}

func (r *readyWatch) run(ctx context.Context, srv *sandbox.Server, id string) {
	defer close(r.done)
	for ctx.Err() == nil {
		now := time.Now()
		if in, err := srv.Instance(id); err == nil && in.State == "running" && in.AgentOnline {
			r.mu.Lock()
			r.ready = now
			r.mu.Unlock()
			return
		}
		_ = sleep(ctx, 2*time.Millisecond)
	}
}

func (r *readyWatch) at() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ready
}

// LaunchRows summarises the launches of one spec.
func LaunchRows(spec LaunchSpec, ls []Launch) []Row {
	var over, total, pause []time.Duration
	for _, l := range ls {
		over = append(over, l.Overhead())
		total = append(total, l.Total)
		if l.Interval > 0 {
			pause = append(pause, l.Interval)
		}
	}
	o, t := Summarize(over), Summarize(total)
	instead := fmt.Sprintf("CreateInstance took %s median", secs(t.P50))
	// In fast mode the instance is ready before the first poll of each
	// wait, so no pause is cut short and only the 1 s bound applies.
	target := fmt.Sprintf("< %s (ready before the first poll)", secs(FastLaunchTarget))
	ok := o.Max < FastLaunchTarget
	if p := Summarize(pause); spec.faults(0) != "" {
		target = fmt.Sprintf("< the pause it cut short (%s–%s)", secs(p.Min), secs(p.Max))
		ok = p.N > 0
		for _, l := range ls {
			ok = ok && (l.Interval == 0 || l.Overhead() < l.Interval)
		}
	}
	return []Row{{What: "launch overhead", Case: spec.Name,
		Runctl:  fmt.Sprintf("median %s, max %s (%s)", secs(o.P50), secs(o.Max), plural(o.N, "launch")),
		Instead: instead, Target: target, Result: verdict(ok, "max "+secs(o.Max))}}
}
