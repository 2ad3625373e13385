package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/runctl/runctl"
	"github.com/runctl/runctl/sandbox"
)

// The sections of a run, in the order they run.
const (
	SectionPack   = "pack"
	SectionMemory = "memory"
	SectionChange = "change"
	SectionFollow = "follow"
	SectionLaunch = "launch"
)

// Sections lists every section.
var Sections = []string{SectionPack, SectionMemory, SectionChange, SectionFollow, SectionLaunch}

// Config says what [Run] measures and how big.
type Config struct {
	Sizes  Sizes
	Rounds int // rounds of the packaging comparison; the best of each side counts
	// Quiet is how long the quiet job on default intervals stays silent;
	// ScaledQuiet the same for the jobs run five times faster, in real
	// time (so 850s runs for 170 s).
	Quiet, ScaledQuiet time.Duration
	Flow               time.Duration // how long the flowing jobs print
	LaunchRuns         int           // CreateInstance calls per launch setting
	ShipBin            string        // the benchship program; "" skips the memory section
	AWSCLI             bool          // compare with `aws s3 sync` when the AWS CLI is installed
	Sections           []string      // empty runs every section
	Log                io.Writer     // progress lines; nil discards
}

// DefaultConfig is what bench/run.sh runs: about seven minutes on two
// cores.
func DefaultConfig() Config {
	return Config{Sizes: DefaultSizes, Rounds: 3, Quiet: 170 * time.Second, ScaledQuiet: 850 * time.Second,
		Flow: 20 * time.Second, LaunchRuns: 5, AWSCLI: true}
}

// Run makes every measurement of cfg in a temporary directory, which it
// removes, and returns the report. It points XDG_CACHE_HOME at that
// directory while it runs, so the stat cache of package pack starts empty
// and no cache of the user's is touched.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	r := &runner{cfg: cfg, rep: &Report{Machine: Machine(), Started: time.Now()}, log: cfg.Log}
	if r.log == nil {
		r.log = io.Discard
	}
	dir, err := os.MkdirTemp("", "runctl-bench-")
	if err != nil {
		return nil, fmt.Errorf("making the work directory: %w", err)
	}
	defer os.RemoveAll(dir)
	r.dir = dir
	restore := setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache"))
	defer restore()

	err = r.all(ctx)
	r.rep.Elapsed = time.Since(r.rep.Started)
	return r.rep, err
}

// runner carries one Run.
type runner struct {
	cfg  Config
	rep  *Report
	log  io.Writer
	dir  string
	srv  *sandbox.Server
	inst string
}

func (r *runner) want(section string) bool {
	return len(r.cfg.Sections) == 0 || slices.Contains(r.cfg.Sections, section)
}

func (r *runner) logf(format string, a ...any) {
	fmt.Fprintf(r.log, "bench: "+format+"\n", a...)
}

func (r *runner) all(ctx context.Context) error {
	if r.want(SectionPack) {
		if err := r.packaging(ctx); err != nil {
			return err
		}
	}
	if r.want(SectionMemory) || r.want(SectionChange) || r.want(SectionFollow) {
		if err := r.startSandbox(ctx); err != nil {
			return err
		}
		defer r.srv.Close()
	}
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{SectionMemory, r.memory}, {SectionChange, r.change}, {SectionFollow, r.follow},
		{SectionLaunch, r.launch},
	}
	for _, s := range steps {
		if !r.want(s.name) {
			continue
		}
		if err := s.fn(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) tree(kind string) (Tree, error) {
	r.logf("writing the %s tree", kind)
	return MakeTree(kind, filepath.Join(r.dir, "trees", kind), r.cfg.Sizes)
}

func (r *runner) packaging(ctx context.Context) error {
	var trees []Tree
	for _, kind := range []string{TreeSmall, TreeLarge, TreeML} {
		t, err := r.tree(kind)
		if err != nil {
			return err
		}
		trees = append(trees, t)
	}
	r.logf("packaging against tar czf, %d rounds", r.cfg.Rounds)
	res, err := Packaging(ctx, trees, r.cfg.Rounds)
	for _, p := range res {
		r.logf("  %s: %s", p.Tree.Kind, p.TarComparison)
		r.rep.Add(p.Rows()...)
	}
	if err != nil {
		return err
	}
	// The large trees are done with; the small one is shipped later.
	for _, t := range trees[1:] {
		_ = os.RemoveAll(t.Dir)
	}
	return nil
}

// startSandbox starts the sandbox the library sections share and launches
// the instance they ship to.
func (r *runner) startSandbox(ctx context.Context) error {
	srv, err := StartSandbox(ctx, filepath.Join(r.dir, "sandbox"), "")
	if err != nil {
		return err
	}
	r.srv = srv
	w, err := NewClient(ctx, srv, ClientSpec{PollMin: 20 * time.Millisecond, PollMax: 200 * time.Millisecond})
	if err != nil {
		return err
	}
	inst, err := w.Client.CreateInstance(ctx, "t3.micro")
	if err != nil {
		return fmt.Errorf("launching the sandbox instance: %w", err)
	}
	r.inst = inst.ID
	r.logf("sandbox at %s, instance %s", srv.URL(), inst.ID)
	return nil
}

func (r *runner) memory(ctx context.Context) error {
	if r.cfg.ShipBin == "" {
		r.rep.Note("Memory was not measured: no benchship program was given (-ship-bin).")
		return nil
	}
	t, err := r.tree(TreeShip)
	if err != nil {
		return err
	}
	defer os.RemoveAll(t.Dir)
	if err := t.addScript("run.sh", "#!/bin/sh\ntrue\n"); err != nil {
		return err
	}
	r.logf("shipping %s from a child process", mib(t.Shipped.Bytes))
	res, err := Memory(ctx, r.cfg.ShipBin, r.srv, r.inst, t, filepath.Join(r.dir, "cache"))
	if err != nil {
		return err
	}
	r.logf("  peak RSS %.1f MiB, %s", float64(res.PeakRSS)/(1<<20), secs(res.Wall))
	r.rep.Add(res.Rows()...)
	return nil
}

func (r *runner) change(ctx context.Context) error {
	t, err := r.tree(TreeSmall)
	if err != nil {
		return err
	}
	if err := t.addScript("run.sh", "#!/bin/sh\ntrue\n"); err != nil {
		return err
	}
	w, err := NewClient(ctx, r.srv, ClientSpec{PollMin: 20 * time.Millisecond, PollMax: 200 * time.Millisecond})
	if err != nil {
		return err
	}
	r.logf("shipping the small tree twice")
	res, err := ChangeDetection(ctx, w, r.inst, t)
	if err != nil {
		return err
	}
	r.logf("  first %s, %d bytes; second %s, %d bytes", secs(res.First.Decision), res.First.PutBytes,
		secs(res.Second.Decision), res.Second.PutBytes)
	if r.cfg.AWSCLI {
		r.logf("aws s3 sync of the same tree, twice")
		if res.SyncFirst, res.SyncSecond, err = AWSSync(ctx, r.srv, t, r.dir); err != nil {
			return err
		}
		if res.SyncFirst == nil {
			r.rep.Note("`aws s3 sync` was not compared: the AWS CLI is not installed.")
		}
	}
	r.rep.Add(res.Rows()...)
	return nil
}

// followSpecs are the jobs the follow section runs at once: quiet and
// flowing jobs on the sandbox's own command latency, and quiet and flowing
// jobs with AWS's latency put back in.
func (r *runner) followSpecs() []FollowSpec {
	c := r.cfg
	return []FollowSpec{
		{Name: "quiet, sandbox latency, default intervals", Quiet: c.Quiet},
		{Name: "quiet, 0.5 s command latency, ×5 faster", Scale: 5, Latency: 500 * time.Millisecond, Quiet: c.ScaledQuiet},
		{Name: "quiet, 1 s command latency, ×5 faster", Scale: 5, Latency: time.Second, Quiet: c.ScaledQuiet},
		{Name: "quiet, 2 s command latency, ×5 faster", Scale: 5, Latency: 2 * time.Second, Quiet: c.ScaledQuiet},
		{Name: "flowing, sandbox latency, default intervals", Flow: c.Flow},
		{Name: "flowing, 1 s command latency, default intervals", Latency: time.Second, Flow: c.Flow},
	}
}

func (r *runner) follow(ctx context.Context) error {
	code := filepath.Join(r.dir, "follow-code")
	if err := os.MkdirAll(code, 0o755); err != nil {
		return err
	}
	if err := WriteFollowScripts(code); err != nil {
		return err
	}
	// Unpack the code once first: starts of the same code on one instance
	// at the same moment race to unpack it (see docs/PERFORMANCE.md).
	w, err := NewClient(ctx, r.srv, ClientSpec{PollMin: 20 * time.Millisecond, PollMax: 200 * time.Millisecond})
	if err != nil {
		return err
	}
	if _, err := w.Client.Train(ctx, r.inst, "flow.sh", runctl.WithCodeDir(code), runctl.WithArgs("0"),
		runctl.WithJobID("bench-follow-unpack")); err != nil {
		return fmt.Errorf("shipping the follow jobs' code: %w", err)
	}
	specs := r.followSpecs()
	r.logf("following %d jobs at once for up to %s", len(specs), max(r.cfg.Quiet, r.cfg.ScaledQuiet/5))
	runs := make([]*FollowRun, len(specs))
	errs := make([]error, len(specs))
	var wg sync.WaitGroup
	for i, s := range specs {
		wg.Go(func() {
			runs[i], errs[i] = Follow(ctx, r.srv, r.inst, code, s, fmt.Sprintf("bench-follow-%d", i))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return err
		}
		rows, err := FollowRows(runs[i])
		if err != nil {
			return err
		}
		r.rep.Add(rows...)
	}
	r.rep.Note("Runs marked ×5 faster divide every interval and the injected command latency by five " +
		"(poll 200 ms–1 s, ceiling 6 s, command polls from 100 ms): the library's schedule then has the same " +
		"shape, and rates are divided by five and times multiplied by five to give real time. The sandbox's " +
		"own command time (about 30 ms) is not scaled; it stays below the injected latency.")
	r.rep.Note("Command latency is put back by the harness's SSM wrapper: GetCommandInvocation reads " +
		"InProgress until that long after SendCommand, as on AWS, where even a trivial command takes " +
		"0.5–2 s. The model column works the library's schedule out for that latency (see bench/model.go).")
	return nil
}

// LaunchSpecs are the launch settings: fast mode, where an instance is
// ready as it launches, and a two-second boot followed by an agent that
// takes three seconds or more, each on the default and on short intervals.
func LaunchSpecs(runs int) []LaunchSpec {
	short := []time.Duration{20 * time.Millisecond, 200 * time.Millisecond}
	slow := LaunchSpec{Boot: 2 * time.Second, Agent: 3 * time.Second, Jitter: 370 * time.Millisecond, Runs: runs}
	return []LaunchSpec{
		{Name: "fast mode, default intervals (1–5 s)", PollMin: DefaultPollMin, PollMax: DefaultPollMax, Runs: runs},
		{Name: "fast mode, 20–200 ms intervals", PollMin: short[0], PollMax: short[1], Runs: runs},
		withIntervals(slow, "boot 2 s + agent 3–4.5 s, default intervals", DefaultPollMin, DefaultPollMax),
		withIntervals(slow, "boot 2 s + agent 3–4.5 s, 20–200 ms intervals", short[0], short[1]),
	}
}

func withIntervals(s LaunchSpec, name string, pollMin, pollMax time.Duration) LaunchSpec {
	s.Name, s.PollMin, s.PollMax = name, pollMin, pollMax
	return s
}

func (r *runner) launch(ctx context.Context) error {
	for i, spec := range LaunchSpecs(r.cfg.LaunchRuns) {
		r.logf("launching: %s", spec.Name)
		ls, err := LaunchOverhead(ctx, filepath.Join(r.dir, fmt.Sprintf("launch-%d", i)), spec)
		if err != nil {
			return err
		}
		r.rep.Add(LaunchRows(spec, ls)...)
	}
	return nil
}

// setenv sets an environment variable and returns what puts it back.
func setenv(key, value string) func() {
	old, had := os.LookupEnv(key)
	_ = os.Setenv(key, value)
	return func() {
		if had {
			_ = os.Setenv(key, old)
		} else {
			_ = os.Unsetenv(key)
		}
	}
}
