package runctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/runctl/runctl/internal/remote"
)

// TrainOption configures one [Client.Train] call.
type TrainOption func(*trainOptions)

type trainOptions struct {
	args          []string
	codeDir       string
	noSync        bool
	detach        bool
	env           map[string]string
	jobID         string
	clientTimeout time.Duration
	startTimeout  time.Duration
	tailLines     int
	dataS3        string
	outputS3      string
}

func defaultTrainOptions() trainOptions {
	return trainOptions{codeDir: ".", startTimeout: 30 * time.Minute, tailLines: 20}
}

// WithArgs passes args to the script. They reach it byte for byte: spaces,
// quotes, $, backticks, newlines and leading dashes included.
func WithArgs(args ...string) TrainOption {
	return func(o *trainOptions) { o.args = append(o.args, args...) }
}

// WithCodeDir ships dir instead of the current directory. The script path
// is relative to it.
func WithCodeDir(dir string) TrainOption { return func(o *trainOptions) { o.codeDir = dir } }

// WithoutSync reuses the code shipped to the instance last instead of
// shipping the code directory.
func WithoutSync() TrainOption { return func(o *trainOptions) { o.noSync = true } }

// Detach returns once the job has started, with a [Result] whose ExitCode
// is -1. Follow it later with [Client.Follow].
func Detach() TrainOption { return func(o *trainOptions) { o.detach = true } }

// WithEnv sets environment variables for the script.
func WithEnv(env map[string]string) TrainOption {
	return func(o *trainOptions) {
		if o.env == nil {
			o.env = map[string]string{}
		}
		for k, v := range env {
			o.env[k] = v
		}
	}
}

// WithJobID names the job instead of letting runctl make an ID.
func WithJobID(id string) TrainOption { return func(o *trainOptions) { o.jobID = id } }

// WithClientTimeout has the instance end itself when no poll from this
// client has reached it for d, so a client that died cannot leave it
// billing. Zero, the default, sets no such limit.
func WithClientTimeout(d time.Duration) TrainOption {
	return func(o *trainOptions) { o.clientTimeout = d }
}

// Job identifies a job on an instance.
type Job struct {
	ID         string
	InstanceID string
	Script     string
	Args       []string
	CodeHash   string
}

// Result is how a job ended and what its instance cost.
type Result struct {
	Job          Job
	ExitCode     int // -1 while the job runs
	StartedAt    time.Time
	FinishedAt   time.Time
	Duration     time.Duration
	LogBytes     int64
	Market       Market
	HourlyPrice  Price
	InstanceTime time.Duration // from launch to the end of the job
	// Cost estimates the instance time at the price recorded at launch,
	// billed by the second with EC2's one-minute minimum. It is zero and
	// CostKnown false when the price is unknown.
	Cost      float64
	CostKnown bool
	// OnDemandCost is what the same time would have cost on-demand, when
	// known; the saving of spot is OnDemandCost - Cost.
	OnDemandCost float64
	Interrupted  bool
	Notice       string // the spot interruption notice, when Interrupted
	// OutputS3 is where the job's outputs go when it ends, and OutputURI
	// the object they were uploaded to, once they were.
	OutputS3  string
	OutputURI string
}

// JobError reports a job whose script exited with a non-zero code. Tail
// holds the last lines of its output.
type JobError struct {
	InstanceID string
	JobID      string
	ExitCode   int
	Tail       []string
}

func (e *JobError) Error() string {
	s := fmt.Sprintf("job %s on %s failed with exit code %d", e.JobID, e.InstanceID, e.ExitCode)
	if len(e.Tail) > 0 {
		s += "; last output:\n  " + strings.Join(e.Tail, "\n  ")
	}
	return s
}

// InterruptedError reports a job stopped by a spot interruption.
type InterruptedError struct {
	InstanceID string
	JobID      string
	Notice     string
	ExitCode   int // the script's exit code, -1 if it never reported one
}

func (e *InterruptedError) Error() string {
	return fmt.Sprintf("job %s on %s was interrupted: AWS reclaimed the spot instance (%s); "+
		"resume from your checkpoint on a new instance", e.JobID, e.InstanceID, e.Notice)
}

func (e *InterruptedError) Unwrap() error { return ErrInterrupted }

var (
	envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	jobIDRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

// Train ships the code directory to the instance, starts script there
// detached and follows it to its last byte of output. A script that exits
// non-zero returns a [*JobError] with its exit code; a spot interruption
// returns an [*InterruptedError]. The Result is returned in both cases.
func (c *Client) Train(
	ctx context.Context,
	instanceID string,
	script string,
	opts ...TrainOption,
) (*Result, error) {
	o := defaultTrainOptions()
	for _, opt := range opts {
		opt(&o)
	}
	named := o.jobID != ""
	if err := validateTrain(script, &o); err != nil {
		return nil, err
	}

	inst, err := c.Describe(ctx, instanceID)
	if err != nil {
		return nil, err
	}
	if inst.State != "running" {
		return nil, &ConfigError{Problem: fmt.Sprintf("instance %s is %s", inst.ID, inst.State),
			Fix: "train on a running instance (runctl aws list)"}
	}

	if named {
		if err := c.checkJobFree(ctx, inst.ID, o.jobID); err != nil {
			return nil, err
		}
	}

	job := remote.Job{ID: o.jobID, Script: script, Args: o.args, Env: o.env, ClientTimeout: o.clientTimeout,
		OutputS3: o.outputS3, Token: newRunID()}
	if !o.noSync {
		if err := c.shipCode(ctx, inst.ID, o.codeDir, script, &job); err != nil {
			return nil, &PhaseError{Phase: PhaseSync, InstanceID: inst.ID, Err: err}
		}
	}
	if o.dataS3 != "" {
		uri, _ := ParseS3URI(o.dataS3)
		if err := c.prepareData(ctx, uri, &job); err != nil {
			return nil, &PhaseError{Phase: PhaseSync, InstanceID: inst.ID, Err: err}
		}
	}

	if err := c.startJob(ctx, inst, job); err != nil {
		return nil, err
	}
	res := &Result{Job: Job{ID: job.ID, InstanceID: inst.ID, Script: script, Args: o.args,
		CodeHash: job.CodeHash}, ExitCode: -1, OutputS3: o.outputS3}
	if o.detach {
		return res, nil
	}
	return c.follow(ctx, inst, res, o.tailLines)
}

func validateTrain(script string, o *trainOptions) error {
	clean := path.Clean(strings.ReplaceAll(script, `\`, "/"))
	switch {
	case script == "":
		return &ConfigError{Problem: "no script given", Fix: "pass the path of the script inside the code directory"}
	case path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../"):
		return &ConfigError{Problem: fmt.Sprintf("script %q is outside the code directory", script),
			Fix: "pass a path relative to the code directory (--code-dir)"}
	case o.jobID != "" && (!jobIDRE.MatchString(o.jobID) || o.jobID == "latest"):
		// "latest" is the link to the newest job; a job of that name would
		// take its place.
		return &ConfigError{Problem: fmt.Sprintf("job ID %q is not valid", o.jobID),
			Fix: "use letters, digits, '.', '_' and '-', and not the word latest"}
	case o.clientTimeout < 0:
		return &ConfigError{Problem: "the client timeout is negative", Fix: "pass a duration such as 10m"}
	}
	total := 0
	for _, a := range o.args {
		total += len(a)
	}
	if total > remote.MaxArgsBytes {
		return &ConfigError{Problem: fmt.Sprintf("the script's arguments add up to %d bytes, more than %d",
			total, remote.MaxArgsBytes), Fix: "put a long configuration in a file in the code directory and pass its path"}
	}
	for _, uri := range []string{o.dataS3, o.outputS3} {
		if uri == "" {
			continue
		}
		if _, err := ParseS3URI(uri); err != nil {
			return err
		}
	}
	for k := range o.env {
		if !envNameRE.MatchString(k) {
			return &ConfigError{Problem: fmt.Sprintf("%q is not an environment variable name", k),
				Fix: "use letters, digits and '_', not starting with a digit"}
		}
	}
	if o.jobID == "" {
		o.jobID = "job-" + time.Now().UTC().Format("20060102-150405") + "-" + newRunID()[2:8]
	}
	return nil
}

// checkJobFree refuses a job ID already used on the instance. The new job
// would share the old one's directory, and the old exit code would be read
// as the new job's until the new one ended.
func (c *Client) checkJobFree(ctx context.Context, id, jobID string) error {
	out, err := c.runCommand(ctx, id, remote.PollCommand(jobID, 0, 0, false), time.Minute)
	if err != nil {
		return &PhaseError{Phase: PhaseStart, InstanceID: id, Err: c.explainGone(ctx, id, err)}
	}
	st, err := remote.ParsePoll(out)
	if err != nil {
		return &PhaseError{Phase: PhaseStart, InstanceID: id, Err: err}
	}
	if st.Found {
		return &ConfigError{Problem: fmt.Sprintf("job %s already exists on %s", jobID, id),
			Fix: "pick another job ID, or follow the job that has it (runctl aws logs)"}
	}
	return nil
}

// startJob sends the command that starts the job runner detached.
func (c *Client) startJob(ctx context.Context, inst *Instance, job remote.Job) error {
	c.emit(ctx, PhaseStarted{Phase: PhaseStart, InstanceID: inst.ID, Detail: job.Script})
	start := c.opts.clock.Now()
	out, err := c.runCommand(ctx, inst.ID, remote.StartCommand(job), 30*time.Minute)
	c.emit(ctx, PhaseFinished{Phase: PhaseStart, InstanceID: inst.ID, Elapsed: c.opts.clock.Now().Sub(start), Err: err})
	if err != nil {
		return &PhaseError{Phase: PhaseStart, InstanceID: inst.ID, Err: c.explainGone(ctx, inst.ID, err)}
	}
	if !strings.Contains(out, "started") {
		return &PhaseError{Phase: PhaseStart, InstanceID: inst.ID,
			Err: fmt.Errorf("the job did not report that it started: %q", out)}
	}
	c.log.Info("job started", "instance_id", inst.ID, "job_id", job.ID)
	c.emit(ctx, JobStarted{Job: Job{ID: job.ID, InstanceID: inst.ID, Script: job.Script, Args: job.Args,
		CodeHash: job.CodeHash}})
	return nil
}

// attach checks a job ID given by a caller ("" means the latest job) and
// finds the instance it runs on.
func (c *Client) attach(ctx context.Context, instanceID, jobID string) (*Instance, string, error) {
	if jobID == "" {
		jobID = "latest"
	}
	if jobID != "latest" && !jobIDRE.MatchString(jobID) {
		return nil, "", &ConfigError{Problem: fmt.Sprintf("job ID %q is not valid", jobID),
			Fix: "pass the ID printed when the job started, or leave it out for the latest job"}
	}
	inst, err := c.Describe(ctx, instanceID)
	return inst, jobID, err
}

// Follow attaches to a job started earlier, perhaps by another process, and
// follows it to its end like [Client.Train] does. jobID "" or "latest" means
// the job started last on the instance.
func (c *Client) Follow(ctx context.Context, instanceID, jobID string) (*Result, error) {
	inst, jobID, err := c.attach(ctx, instanceID, jobID)
	if err != nil {
		return nil, err
	}
	res := &Result{Job: Job{ID: jobID, InstanceID: inst.ID}, ExitCode: -1}
	return c.follow(ctx, inst, res, defaultTrainOptions().tailLines)
}

// Logs emits the output a job has written so far as [LogOutput] events and
// returns its state without waiting for it to end.
func (c *Client) Logs(ctx context.Context, instanceID, jobID string) (*Result, error) {
	inst, jobID, err := c.attach(ctx, instanceID, jobID)
	if err != nil {
		return nil, err
	}
	f := &follower{c: c, inst: inst, res: &Result{Job: Job{ID: jobID, InstanceID: inst.ID}, ExitCode: -1},
		tail: newTail(0)}
	for {
		st, err := f.poll(ctx)
		if err != nil {
			return nil, err
		}
		if !st.Found {
			return nil, &PhaseError{Phase: PhaseFollow, InstanceID: inst.ID,
				Err: fmt.Errorf("no job %q on the instance", jobID)}
		}
		if !f.lastMeta && (len(st.Chunk) < remote.MaxChunk || f.offset >= st.LogSize) {
			f.record(st)
			return f.res, nil
		}
	}
}

// Status returns a job's state without reading its output: one poll that
// asks for no log bytes. LogBytes is the size of the output so far.
func (c *Client) Status(ctx context.Context, instanceID, jobID string) (*Result, error) {
	inst, jobID, err := c.attach(ctx, instanceID, jobID)
	if err != nil {
		return nil, err
	}
	out, err := c.runCommand(ctx, inst.ID, remote.PollCommand(jobID, 0, 0, true), time.Minute)
	if err != nil {
		return nil, c.explainGone(ctx, inst.ID, err)
	}
	st, err := remote.ParsePoll(out)
	if err != nil {
		return nil, err
	}
	if !st.Found {
		return nil, nil
	}
	f := &follower{c: c, inst: inst, res: &Result{Job: Job{ID: st.JobID, InstanceID: inst.ID}, ExitCode: -1}}
	f.record(st)
	f.res.LogBytes = st.LogSize
	return f.res, nil
}

// follow polls the job until its exit code is known and every byte of its
// output has been read.
func (c *Client) follow(ctx context.Context, inst *Instance, res *Result, tailLines int) (*Result, error) {
	c.emit(ctx, PhaseStarted{Phase: PhaseFollow, InstanceID: inst.ID, Detail: res.Job.ID})
	f := &follower{c: c, inst: inst, res: res, tail: newTail(tailLines)}
	err := f.run(ctx)
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		err = &PhaseError{Phase: PhaseFollow, InstanceID: inst.ID, Err: err}
	}
	c.emit(ctx, PhaseFinished{Phase: PhaseFollow, InstanceID: inst.ID, Err: err})
	if res.OutputS3 != "" {
		// Outputs are the checkpoints: they go up however the follow ended,
		// a cancel or a lost runner included, while the instance still runs.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		err = errors.Join(err, c.uploadOutputs(uctx, inst, res, res.OutputS3))
		cancel()
	}
	if res.ExitCode >= 0 || res.Interrupted {
		c.emit(ctx, JobFinished{Result: *res})
	}
	return res, err
}

// follower holds the state of one follow: how far the log has been read and
// its last lines.
type follower struct {
	c      *Client
	inst   *Instance
	res    *Result
	offset int64
	tail   *tail
	misses int // polls in a row that failed
	lost   int // polls in a row that found the runner gone without an exit code
	// lastMeta marks a poll that asked for the job's description and no
	// log; described says that poll was made, so it is made once.
	lastMeta  bool
	described bool
}

// errRunnerLost explains a job that can never report an exit code.
var errRunnerLost = errors.New("the job's runner on the instance stopped without recording an exit code " +
	"(killed by the out-of-memory killer or kill -9, or the instance rebooted); its output so far was delivered")

func (f *follower) run(ctx context.Context) error {
	c := f.c
	interval := c.opts.pollMin
	for {
		pollStart := c.opts.clock.Now()
		st, err := f.poll(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if gone := c.explainGone(ctx, f.inst.ID, err); gone != err || f.misses >= 5 {
				return f.interruptedOr(gone)
			}
			f.misses++
			if !c.sleep(ctx, interval) {
				return ctx.Err()
			}
			continue
		}
		f.misses = 0

		if !st.Found {
			return &PhaseError{Phase: PhaseFollow, InstanceID: f.inst.ID,
				Err: fmt.Errorf("no job %q on the instance", f.res.Job.ID)}
		}
		if st.ExitKnown() && f.offset >= st.LogSize {
			f.record(st)
			return f.outcome()
		}
		// The runner may record its exit code between the poll's reads, so
		// only a second sighting counts.
		if f.lost = f.lost + 1; !st.RunnerLost() {
			f.lost = 0
		}
		if f.lost >= 2 && f.offset >= st.LogSize {
			return &PhaseError{Phase: PhaseFollow, InstanceID: f.inst.ID, Err: errRunnerLost}
		}

		if f.lastMeta {
			continue
		}
		// While output flows, read the next chunk at once; after a spot
		// notice, the instance has minutes left, so keep close.
		switch {
		case len(st.Chunk) == remote.MaxChunk:
			continue
		case len(st.Chunk) > 0 || st.Interrupted != "":
			// Polls start pollMin apart while output flows, so a line
			// waits at most that plus one poll.
			interval = c.opts.pollMin
			if !c.sleep(ctx, interval-c.opts.clock.Now().Sub(pollStart)) {
				return ctx.Err()
			}
			continue
		default:
			interval = min(interval*3/2, c.opts.followMax)
		}
		if !c.sleep(ctx, interval) {
			return ctx.Err()
		}
	}
}

// poll runs one poll command and delivers its new bytes.
func (f *follower) poll(ctx context.Context) (remote.Status, error) {
	// A follower that attached to a job it did not start asks once for the
	// script, its arguments and the outputs' destination, without log bytes.
	meta := f.res.Job.Script == "" && !f.described
	f.lastMeta, f.described = meta, f.described || meta
	max := remote.MaxChunk
	if meta {
		max = 0
	}
	out, err := f.c.runCommand(ctx, f.inst.ID, remote.PollCommand(f.res.Job.ID, f.offset, max, meta), time.Minute)
	if err != nil {
		return remote.Status{}, err
	}
	st, err := remote.ParsePoll(out)
	if err != nil {
		return st, err
	}
	if st.Offset != f.offset {
		return st, fmt.Errorf("poll answered from offset %d, asked %d", st.Offset, f.offset)
	}
	if st.JobID != "" {
		f.res.Job.ID = st.JobID
	}
	if len(st.Chunk) > 0 {
		f.c.emit(ctx, LogOutput{InstanceID: f.inst.ID, JobID: f.res.Job.ID, Offset: f.offset, Data: st.Chunk})
		f.tail.Write(st.Chunk)
		f.offset += int64(len(st.Chunk))
	}
	f.record(st)
	return st, nil
}

// record copies what a poll saw into the result and prices the time.
func (f *follower) record(st remote.Status) {
	r := f.res
	r.ExitCode, r.LogBytes = st.ExitCode, f.offset
	r.StartedAt, r.FinishedAt = st.StartedAt, st.FinishedAt
	if st.Interrupted != "" {
		r.Interrupted, r.Notice = true, readNotice(st.Interrupted)
	}
	if r.Job.Script == "" {
		r.Job.Script, r.Job.Args = st.Script, st.Args
	}
	if r.OutputS3 == "" {
		r.OutputS3 = st.OutputS3
	}
	end := st.FinishedAt
	if end.IsZero() {
		end = st.Now
	}
	if !r.StartedAt.IsZero() && !end.IsZero() {
		r.Duration = end.Sub(r.StartedAt)
	}
	r.Market, r.HourlyPrice = f.inst.Market, f.inst.HourlyPrice
	// TODO(runctl): the instance bills until it is terminated, so reading a
	// long log after the exit costs too; the estimate stops at the exit.
	if !f.inst.LaunchTime.IsZero() && !end.IsZero() {
		r.InstanceTime = end.Sub(f.inst.LaunchTime)
	}
	r.Cost, r.CostKnown = instanceCost(r.InstanceTime, r.HourlyPrice)
	if od, ok := embeddedOrKnown(f.inst); ok {
		r.OnDemandCost, _ = instanceCost(r.InstanceTime, od)
	}
}

// readNotice turns the metadata service's interruption notice into words;
// a notice it cannot read is kept as it came.
func readNotice(raw string) string {
	var n struct {
		Action string    `json:"action"`
		Time   time.Time `json:"time"`
	}
	if err := json.Unmarshal([]byte(raw), &n); err != nil || n.Action == "" {
		return raw
	}
	return fmt.Sprintf("AWS gave notice to %s the instance at %s", n.Action, n.Time.UTC().Format("15:04:05 MST"))
}

// embeddedOrKnown returns the on-demand price the instance's bill compares
// against.
func embeddedOrKnown(inst *Instance) (Price, bool) {
	if inst.OnDemandRate.Known {
		return inst.OnDemandRate, true
	}
	p := embeddedOnDemand(inst.Region, inst.Type)
	return p, p.Known
}

// instanceCost prices d at p, billed per second with a one-minute minimum.
func instanceCost(d time.Duration, p Price) (float64, bool) {
	if !p.Known {
		return 0, false
	}
	d = max(d, time.Minute)
	return d.Hours() * p.USD, true
}

// outcome turns the recorded end of the job into the call's error.
func (f *follower) outcome() error {
	r := f.res
	switch {
	case r.Interrupted:
		return &InterruptedError{InstanceID: f.inst.ID, JobID: r.Job.ID, Notice: r.Notice, ExitCode: r.ExitCode}
	case r.ExitCode != 0:
		return &JobError{InstanceID: f.inst.ID, JobID: r.Job.ID, ExitCode: r.ExitCode, Tail: f.tail.Lines()}
	}
	return nil
}

// interruptedOr returns an InterruptedError when the instance went away
// after an interruption notice, and err otherwise.
func (f *follower) interruptedOr(err error) error {
	if f.res.Interrupted || errors.Is(err, ErrInterrupted) {
		f.res.Interrupted = true
		notice := f.res.Notice
		var ie *InterruptedError
		if errors.As(err, &ie) && notice == "" {
			notice = ie.Notice
		}
		f.res.Notice = notice
		return &InterruptedError{InstanceID: f.inst.ID, JobID: f.res.Job.ID, Notice: notice, ExitCode: f.res.ExitCode}
	}
	return &PhaseError{Phase: PhaseFollow, InstanceID: f.inst.ID, Err: err}
}

// explainGone turns an SSM failure on an instance that is no longer running
// into what happened to it, so a reclaimed spot instance reads as an
// interruption and not as a failed job.
func (c *Client) explainGone(ctx context.Context, id string, err error) error {
	inst, derr := c.Describe(context.WithoutCancel(ctx), id)
	if derr != nil || inst.State == "running" || inst.State == "pending" {
		return err
	}
	if strings.Contains(inst.StateReason, "SpotInstanceTermination") {
		return &InterruptedError{InstanceID: id, Notice: inst.StateReason, ExitCode: -1}
	}
	if strings.Contains(inst.StateReason, "InstanceInitiatedShutdown") {
		return fmt.Errorf("instance %s shut itself down: its --max-lifetime passed, its client went silent "+
			"past the client timeout, or the script powered it off (%s): %w", id, inst.StateReason, err)
	}
	return fmt.Errorf("instance %s is %s (%s): %w", id, inst.State, inst.StateReason, err)
}

// tail keeps the last n lines written to it.
type tail struct {
	n       int
	lines   []string
	partial []byte
}

func newTail(n int) *tail { return &tail{n: n} }

func (t *tail) Write(p []byte) {
	if t.n == 0 {
		return
	}
	t.partial = append(t.partial, p...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			break
		}
		t.push(string(t.partial[:i]))
		t.partial = t.partial[i+1:]
	}
	if len(t.partial) > 64<<10 {
		t.push(string(t.partial))
		t.partial = nil
	}
}

func (t *tail) push(line string) {
	t.lines = append(t.lines, line)
	if len(t.lines) > t.n {
		t.lines = t.lines[len(t.lines)-t.n:]
	}
}

// Lines returns the last lines, the unfinished one included.
func (t *tail) Lines() []string {
	out := append([]string(nil), t.lines...)
	if len(t.partial) > 0 {
		out = append(out, string(t.partial))
	}
	if len(out) > t.n {
		out = out[len(out)-t.n:]
	}
	return out
}
