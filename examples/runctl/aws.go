package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/runctl/runctl"
)

// createFlags are the flags of create and run.
type createFlags struct {
	spot         bool
	spotTimeout  time.Duration
	readyTimeout time.Duration
	noFallback   bool
	maxPrice     float64
	profile      string
	ami          string
	volumeGB     int32
	subnets      []string
	groups       []string
	keyName      string
	maxLifetime  time.Duration
	wait         bool
}

func (f *createFlags) register(fs *pflag.FlagSet, defaultLifetime time.Duration) {
	fs.BoolVar(&f.spot, "spot", false, "ask for a spot instance, falling back to on-demand")
	fs.DurationVar(&f.spotTimeout, "spot-timeout", 2*time.Minute, "how long to try for spot capacity")
	fs.DurationVar(&f.readyTimeout, "ready-timeout", 10*time.Minute, "how long to wait for the instance to be ready")
	fs.BoolVar(&f.noFallback, "no-fallback", false, "fail instead of falling back to on-demand")
	fs.Float64Var(&f.maxPrice, "max-price-per-hour", 0, "refuse any launch above this hourly price in USD")
	fs.StringVar(&f.profile, "iam-instance-profile", "runctl-ssm", "instance profile with the SSM policy")
	fs.StringVar(&f.ami, "ami", "", "AMI ID (default: the latest for the type's architecture)")
	fs.Int32Var(&f.volumeGB, "volume-size", 0, "root volume size in GiB (default: the AMI's)")
	fs.StringSliceVar(&f.subnets, "subnet", nil, "subnet IDs to launch in, tried in order")
	fs.StringSliceVar(&f.groups, "security-group", nil, "security group IDs")
	fs.StringVar(&f.keyName, "key-name", "", "EC2 key pair name, for SSH")
	fs.DurationVar(&f.maxLifetime, "max-lifetime", defaultLifetime,
		"the instance ends itself after this long, whatever happens (0: no limit)")
	fs.BoolVar(&f.wait, "wait", true, "wait until the instance is ready (always on; kept for scripts)")
}

func (f *createFlags) options() []runctl.CreateOption {
	opts := []runctl.CreateOption{
		runctl.WithSpotTimeout(f.spotTimeout), runctl.WithReadyTimeout(f.readyTimeout),
		runctl.WithMaxLifetime(f.maxLifetime),
	}
	if f.spot {
		opts = append(opts, runctl.Spot())
	}
	if f.noFallback {
		opts = append(opts, runctl.WithoutFallback())
	}
	if f.maxPrice != 0 {
		opts = append(opts, runctl.WithMaxHourlyPrice(f.maxPrice))
	}
	if f.profile != "" {
		opts = append(opts, runctl.WithInstanceProfile(f.profile))
	}
	if f.ami != "" {
		opts = append(opts, runctl.WithAMI(f.ami))
	}
	if f.volumeGB != 0 {
		opts = append(opts, runctl.WithVolumeSize(f.volumeGB))
	}
	if len(f.subnets) > 0 {
		opts = append(opts, runctl.WithSubnets(f.subnets...))
	}
	if len(f.groups) > 0 {
		opts = append(opts, runctl.WithSecurityGroups(f.groups...))
	}
	if f.keyName != "" {
		opts = append(opts, runctl.WithKeyName(f.keyName))
	}
	return opts
}

// trainFlags are the flags of train and run.
type trainFlags struct {
	syncCode bool
	codeDir  string
	wait     bool
	jobID    string
	dryRun   bool
	dataS3   string
	outputS3 string
}

func (f *trainFlags) register(fs *pflag.FlagSet, withWait bool) {
	fs.BoolVar(&f.syncCode, "sync-code", true, "ship the code directory (false: reuse the code shipped last)")
	fs.StringVar(&f.codeDir, "code-dir", ".", "the directory to ship; SCRIPT is relative to it")
	fs.StringVar(&f.dataS3, "data-s3", "", "fetch s3://bucket/prefix into $RUNCTL_DATA_DIR before the script starts")
	fs.StringVar(&f.outputS3, "output-s3", "",
		"upload $RUNCTL_OUTPUT_DIR to s3://bucket/prefix/JOB-ID/outputs.tar.gz when the job ends")
	fs.StringVar(&f.jobID, "job-id", "", "name the job (default: generated)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "list what would be shipped, with sizes, and stop")
	if withWait {
		fs.BoolVar(&f.wait, "wait", true, "follow the job to its end (false: start it and return)")
	}
}

func (f *trainFlags) options(args []string) []runctl.TrainOption {
	opts := []runctl.TrainOption{runctl.WithCodeDir(f.codeDir), runctl.WithArgs(args...)}
	if !f.syncCode {
		opts = append(opts, runctl.WithoutSync())
	}
	if f.jobID != "" {
		opts = append(opts, runctl.WithJobID(f.jobID))
	}
	if f.dataS3 != "" {
		opts = append(opts, runctl.WithDataS3(f.dataS3))
	}
	if f.outputS3 != "" {
		opts = append(opts, runctl.WithOutputS3(f.outputS3))
	}
	return opts
}

func (a *app) createCommand() *cobra.Command {
	var f createFlags
	cmd := &cobra.Command{
		Use:   "create TYPE",
		Short: "Create an instance and wait until it is ready",
		Args:  exactArgs(1, "create takes the instance type, such as t3.micro"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a.idOutput = true
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			inst, err := c.CreateInstance(cmd.Context(), args[0], f.options()...)
			if err != nil {
				return err
			}
			return a.printInstance(inst)
		},
	}
	f.register(cmd.Flags(), 24*time.Hour)
	return cmd
}

func (a *app) trainCommand() *cobra.Command {
	var f trainFlags
	cmd := &cobra.Command{
		Use:   "train ID SCRIPT [-- SCRIPT ARGS...]",
		Short: "Ship the code and run SCRIPT on an instance",
		RunE: func(cmd *cobra.Command, args []string) error {
			own, sargs := scriptArgs(cmd, args)
			if len(own) != 2 {
				return &usageError{"train takes an instance ID and a script, then -- and the script's arguments"}
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			if f.dryRun {
				return a.dryRun(cmd.Context(), c, f.codeDir)
			}
			opts := f.options(sargs)
			if !f.wait {
				opts = append(opts, runctl.Detach())
			}
			res, err := c.Train(cmd.Context(), own[0], own[1], opts...)
			return a.finishJob(res, err)
		},
	}
	f.register(cmd.Flags(), true)
	return cmd
}

func (a *app) runCommand() *cobra.Command {
	var (
		cf   createFlags
		tf   trainFlags
		keep bool
	)
	cmd := &cobra.Command{
		Use:   "run TYPE SCRIPT [-- SCRIPT ARGS...]",
		Short: "Create an instance, train on it and terminate it, whatever happens",
		RunE: func(cmd *cobra.Command, args []string) error {
			own, sargs := scriptArgs(cmd, args)
			if len(own) != 2 {
				return &usageError{"run takes an instance type and a script, then -- and the script's arguments"}
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			if tf.dryRun {
				return a.dryRun(cmd.Context(), c, tf.codeDir)
			}
			return a.runJob(cmd.Context(), c, own[0], own[1], cf, tf, sargs, keep)
		},
	}
	cf.register(cmd.Flags(), 12*time.Hour)
	tf.register(cmd.Flags(), false)
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the instance when the run ends")
	return cmd
}

// runJob is create, train and terminate, with the terminate guaranteed by
// the library on failure and on Ctrl-C too.
func (a *app) runJob(
	ctx context.Context,
	c *runctl.Client,
	itype, script string,
	cf createFlags,
	tf trainFlags,
	args []string,
	keep bool,
) error {
	pre := runctl.PreflightInput{InstanceType: itype, Spot: cf.spot, Fallback: !cf.noFallback,
		InstanceProfile: cf.profile, AMI: cf.ami, CodeDir: tf.codeDir, Script: script, NeedBucket: tf.syncCode}
	res, err := c.Run(ctx, itype, script, runctl.RunOptions{Create: cf.options(), Train: tf.options(args),
		Keep: keep, Preflight: &pre})
	if keep && res != nil {
		fmt.Fprintf(a.stderr, "kept %s running as asked: runctl aws terminate %s\n", res.Job.InstanceID, res.Job.InstanceID)
	}
	return a.finishJob(res, err)
}

// finishJob prints a job's result on stdout and passes its error on. A job
// that never reported an exit code because the run failed or was cancelled
// is not printed: it is not running any more, whatever its result says.
func (a *app) finishJob(res *runctl.Result, err error) error {
	if res != nil && (err == nil || res.ExitCode >= 0 || res.Interrupted) {
		if perr := a.printResult(res); perr != nil && err == nil {
			err = perr
		}
	}
	return err
}

func (a *app) dryRun(ctx context.Context, c *runctl.Client, dir string) error {
	plan, err := c.PlanSync(ctx, dir)
	if err != nil {
		return err
	}
	if a.output == "json" {
		return a.writeJSON(plan)
	}
	for _, f := range plan.Files {
		fmt.Fprintf(a.stdout, "%10s  %s\n", humanBytes(f.Size), f.Path)
	}
	fmt.Fprintf(a.stdout, "%d files, %s, code hash %.16s\n", len(plan.Files), humanBytes(plan.TotalBytes), plan.Hash)
	for _, s := range plan.LeftOut {
		fmt.Fprintln(a.stdout, s)
	}
	return nil
}

func (a *app) doctorCommand() *cobra.Command {
	var (
		cf     createFlags
		script string
		dir    string
	)
	cmd := &cobra.Command{
		Use:   "doctor [TYPE]",
		Short: "Check every prerequisite of a run and print a checklist",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			in := runctl.PreflightInput{Spot: cf.spot, Fallback: !cf.noFallback, InstanceProfile: cf.profile,
				AMI: cf.ami, CodeDir: dir, Script: script, NeedBucket: true}
			if len(args) == 1 {
				in.InstanceType = args[0]
			}
			a.printer.quietPreflight = true // the checklist below says it all
			rep := c.Preflight(cmd.Context(), in)
			if a.output == "json" {
				if err := a.writeJSON(rep); err != nil {
					return err
				}
				return rep.Err()
			}
			for _, ch := range rep.Checks {
				mark := map[runctl.CheckStatus]string{runctl.CheckOK: "ok  ", runctl.CheckWarning: "warn",
					runctl.CheckFailed: "FAIL"}[ch.Status]
				fmt.Fprintf(a.stdout, "[%s] %-17s %s\n", mark, ch.Name, ch.Detail)
				if ch.Status != runctl.CheckOK && ch.Fix != "" {
					fmt.Fprintf(a.stdout, "       %-17s fix: %s\n", "", ch.Fix)
				}
			}
			if err := rep.Err(); err != nil {
				n := len(err.(*runctl.PreflightError).Problems)
				return &reportedError{msg: fmt.Sprintf("%d check(s) failed", n), err: err}
			}
			return nil
		},
	}
	cf.register(cmd.Flags(), 0)
	cmd.Flags().StringVar(&script, "script", "", "also check that this script exists in --code-dir")
	cmd.Flags().StringVar(&dir, "code-dir", ".", "the code directory")
	return cmd
}

func (a *app) setupCommand() *cobra.Command {
	var (
		profile string
		days    int32
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "Create the SSM role and instance profile (and the --bucket), idempotently",
		Args:  exactArgs(0, "setup takes no arguments; name the bucket with --bucket"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			steps, err := c.Setup(cmd.Context(), runctl.SetupInput{InstanceProfile: profile, Bucket: a.bucket,
				ExpireDays: days, PropagationTimeout: timeout})
			if a.output == "json" {
				return errors.Join(err, a.writeJSON(append([]runctl.SetupStep{}, steps...)))
			}
			for _, s := range steps {
				fmt.Fprintf(a.stdout, "%-10s %s %s\n", s.Action, s.Resource, s.Detail)
			}
			if err == nil {
				fmt.Fprintln(a.stdout, "ready: runctl aws doctor checks the rest")
			}
			return err
		},
	}
	cmd.Flags().StringVar(&profile, "instance-profile", "runctl-ssm", "name of the role and instance profile")
	cmd.Flags().Int32Var(&days, "expire-days", 30, "days after which runctl's objects in a new bucket expire")
	cmd.Flags().DurationVar(&timeout, "propagation-timeout", 3*time.Minute, "how long to wait for IAM to reach EC2")
	return cmd
}

func (a *app) gcCommand() *cobra.Command {
	var (
		olderThan time.Duration
		yes       bool
	)
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Find runctl instances no run is using, and terminate them with --yes",
		Args:  exactArgs(0, "gc takes no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			orphans, err := c.FindOrphans(cmd.Context(), olderThan)
			if err != nil {
				return err
			}
			if err := a.printOrphans(orphans, yes); err != nil || !yes {
				return err
			}
			for _, o := range orphans {
				if err := c.Terminate(cmd.Context(), o.Instance.ID); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&olderThan, "older-than", time.Hour, "only instances launched longer ago than this")
	cmd.Flags().BoolVar(&yes, "yes", false, "terminate what is found")
	return cmd
}

func (a *app) statusCommand() *cobra.Command {
	var jobID string
	cmd := &cobra.Command{
		Use:   "status ID",
		Short: "Show an instance and its latest job",
		Args:  exactArgs(1, "status takes an instance ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			inst, err := c.Describe(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var res *runctl.Result
			if inst.State == "running" {
				if res, err = c.Status(cmd.Context(), inst.ID, jobID); err != nil {
					return err
				}
			}
			return a.printStatus(inst, res)
		},
	}
	cmd.Flags().StringVar(&jobID, "job", "latest", "job ID")
	return cmd
}

func (a *app) logsCommand() *cobra.Command {
	var (
		jobID  string
		follow bool
	)
	cmd := &cobra.Command{
		Use:   "logs ID",
		Short: "Print a job's output",
		Args:  exactArgs(1, "logs takes an instance ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			a.printer.logs = a.stdout
			if follow {
				res, err := c.Follow(cmd.Context(), args[0], jobID)
				if res != nil && res.ExitCode > 0 {
					return err
				}
				return err
			}
			_, err = c.Logs(cmd.Context(), args[0], jobID)
			return err
		},
	}
	cmd.Flags().StringVar(&jobID, "job", "latest", "job ID")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "follow the job until it ends")
	return cmd
}

func (a *app) listCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the instances runctl launched that are not terminated",
		Args:  exactArgs(0, "list takes no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			insts, err := c.List(cmd.Context())
			if err != nil {
				return err
			}
			return a.printList(insts)
		},
	}
}

func (a *app) terminateCommand() *cobra.Command {
	var force, noWait bool
	cmd := &cobra.Command{
		Use:   "terminate ID",
		Short: "Terminate an instance and wait until AWS says it is gone",
		Args:  exactArgs(1, "terminate takes an instance ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			var opts []runctl.TerminateOption
			if force {
				opts = append(opts, runctl.Force())
			}
			if noWait {
				opts = append(opts, runctl.NoWait())
			}
			return c.Terminate(cmd.Context(), args[0], opts...)
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "terminate even an instance runctl did not launch")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once AWS accepted the request")
	return cmd
}

func exactArgs(n int, msg string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return &usageError{msg}
		}
		return nil
	}
}

func (a *app) writeJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
