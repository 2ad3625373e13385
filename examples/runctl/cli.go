package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/spf13/cobra"

	"github.com/runctl/runctl"
	"github.com/runctl/runctl/sandbox"
)

// app holds what every command shares: the streams, the global flags, and
// the sandbox started for --sandbox.
type app struct {
	stdout, stderr io.Writer

	sandbox bool
	region  string
	profile string
	output  string
	bucket  string
	verbose bool

	srv      *sandbox.Server
	printer  *printer
	idOutput bool // the command accepts --output instance-id
}

// run executes the command line args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if a.srv != nil {
		_ = a.srv.Close()
	}
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, context.Canceled) {
			err = errors.Join(err, context.Canceled)
		}
		a.reportError(err)
	}
	return exitCode(err)
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "runctl",
		Short:         "Run a training script on an AWS EC2 instance",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.ArbitraryArgs,
		RunE:          groupRunE,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err.Error()} })
	pf := root.PersistentFlags()
	pf.BoolVar(&a.sandbox, "sandbox", sandboxFromEnv(),
		"use the built-in local cloud instead of AWS, no account needed (env RUNCTL_SANDBOX=1)")
	pf.StringVar(&a.region, "region", "", "AWS region (default: from the environment or profile)")
	pf.StringVar(&a.profile, "profile", "", "AWS shared config profile")
	pf.StringVar(&a.output, "output", "text", "output format: text, json, or instance-id (create)")
	pf.StringVar(&a.bucket, "bucket", os.Getenv("RUNCTL_BUCKET"), "S3 bucket for shipping code (env RUNCTL_BUCKET)")
	pf.BoolVarP(&a.verbose, "verbose", "v", false, "debug logs on stderr")

	awsCmd := &cobra.Command{Use: "aws", Short: "Create instances, train on them, terminate them",
		Args: cobra.ArbitraryArgs, RunE: groupRunE}
	awsCmd.AddCommand(a.createCommand(), a.trainCommand(), a.runCommand(), a.doctorCommand(), a.setupCommand(), a.gcCommand(), a.statusCommand(),
		a.logsCommand(), a.listCommand(), a.terminateCommand())
	sbCmd := &cobra.Command{Use: "sandbox", Short: "The built-in local cloud",
		Args: cobra.ArbitraryArgs, RunE: groupRunE}
	sbCmd.AddCommand(a.serveCommand())
	root.AddCommand(awsCmd, sbCmd, a.pricesCommand())
	return root
}

// groupRunE runs a command that only holds subcommands: alone it prints its
// help; with an argument that names no subcommand it is a usage error.
// Without it cobra prints help and exits 0 for "runctl aws lst", and fails
// with an error that is not a usage error for "runctl lst".
func groupRunE(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	cmd.SuggestionsMinimumDistance = 2 // cobra's default, applied only on its own path
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + s[0] + "?"
	}
	return &usageError{msg}
}

// sandboxFromEnv reads RUNCTL_SANDBOX. A value it does not understand turns
// the sandbox on rather than letting a typo send commands to real AWS.
func sandboxFromEnv() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv("RUNCTL_SANDBOX"))) {
	case "", "0", "false", "no", "off":
		return false
	}
	return true
}

// client builds the library client, starting the sandbox first for
// --sandbox.
func (a *app) client(ctx context.Context) (*runctl.Client, error) {
	switch a.output {
	case "text", "json":
	case "instance-id":
		if !a.idOutput {
			return nil, &usageError{"--output instance-id is for 'runctl aws create'; use text or json here"}
		}
	default:
		return nil, &usageError{fmt.Sprintf("--output %q: use text, json or instance-id", a.output)}
	}
	a.printer = newPrinter(a.stderr)
	opts := []runctl.Option{runctl.WithEventHandler(a.printer.handle)}
	if a.verbose {
		opts = append(opts, runctl.WithLogger(slog.New(slog.NewTextHandler(a.stderr,
			&slog.HandlerOptions{Level: slog.LevelDebug}))))
	}
	if a.region != "" {
		opts = append(opts, runctl.WithRegion(a.region))
	}
	if a.profile != "" {
		opts = append(opts, runctl.WithProfile(a.profile))
	}
	if a.sandbox {
		sb, err := a.startSandbox(ctx)
		if err != nil {
			return nil, err
		}
		opts = append(opts, sb...)
	}
	if a.bucket != "" {
		opts = append(opts, runctl.WithBucket(a.bucket))
	}
	return runctl.New(ctx, opts...)
}

// startSandbox starts the local cloud over the shared state directory, so
// separate invocations see the same instances.
func (a *app) startSandbox(ctx context.Context) ([]runctl.Option, error) {
	faults, err := sandbox.ParseFaults(os.Getenv(sandbox.EnvFaults))
	if err != nil {
		return nil, &usageError{fmt.Sprintf("%s: %v", sandbox.EnvFaults, err)}
	}
	srv, err := sandbox.Start(ctx, sandbox.Options{Dir: sandbox.DefaultDir(), Faults: faults})
	if err != nil {
		return nil, fmt.Errorf("starting the sandbox: %w", err)
	}
	a.srv = srv
	if a.bucket == "" {
		a.bucket = sandbox.DefaultBucket
	}
	cfg := aws.Config{
		Region:      srv.Region(),
		Credentials: credentials.NewStaticCredentialsProvider("sandbox", "sandbox", ""),
	}
	if a.region != "" {
		cfg.Region = a.region
	}
	return []runctl.Option{
		runctl.WithAWSConfig(cfg),
		runctl.WithEndpoint(srv.URL()),
		runctl.WithPollInterval(100*time.Millisecond, time.Second),
		runctl.WithFollowInterval(2 * time.Second),
	}, nil
}

// reportError prints err for a person, on stderr.
func (a *app) reportError(err error) {
	var job *runctl.JobError
	if errors.As(err, &job) {
		fmt.Fprintf(a.stderr, "runctl: the script failed with exit code %d\n", job.ExitCode)
		return
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintf(a.stderr, "runctl: cancelled (%s); whatever this command launched was terminated\n",
			strings.TrimSpace(err.Error()))
		return
	}
	msg := strings.TrimSpace(err.Error())
	fmt.Fprintf(a.stderr, "runctl: error: %s\n", msg)
	var u *usageError
	if errors.As(err, &u) {
		fmt.Fprintln(a.stderr, "run 'runctl --help' for usage")
	}
}

// scriptArgs splits positional arguments at "--": before it the command's
// own, after it the script's, passed on untouched.
func scriptArgs(cmd *cobra.Command, args []string) (own, script []string) {
	if at := cmd.ArgsLenAtDash(); at >= 0 {
		return args[:at], args[at:]
	}
	return args, nil
}
