package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/runctl/runctl"
	"github.com/runctl/runctl/sandbox"
)

// Exit codes: a failed script passes its own status through.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// config is what the command line asks for.
type config struct {
	codeDir      string
	script       string
	instanceType string
	epochs       int
}

// run parses args, does one create → train → terminate in a private
// sandbox and returns the exit code. Events go to stdout, errors to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if err := embed(ctx, cfg, stdout); err != nil {
		fmt.Fprintf(stderr, "embed: %v\n", err)
		var job *runctl.JobError
		if errors.As(err, &job) && job.ExitCode > 0 && job.ExitCode < 256 {
			return job.ExitCode
		}
		return exitError
	}
	return exitOK
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("embed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.codeDir, "code-dir", "", "directory to ship (default: examples/training)")
	fs.StringVar(&cfg.script, "script", "train.py", "script to run, relative to -code-dir")
	fs.StringVar(&cfg.instanceType, "type", "t3.micro", "instance type")
	fs.IntVar(&cfg.epochs, "epochs", 2, "epochs to train")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "embed: unexpected arguments %q\n", fs.Args())
		return cfg, errors.New("unexpected arguments")
	}
	dir, err := findCodeDir(cfg.codeDir)
	if err != nil {
		fmt.Fprintf(stderr, "embed: %v\n", err)
		return cfg, err
	}
	cfg.codeDir = dir
	return cfg, nil
}

// findCodeDir returns dir when one was given; otherwise the training example
// beside this program's source (go run, go test), under the working
// directory (the repository root), or beside a built binary's directory.
func findCodeDir(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	var candidates []string
	if _, file, _, ok := runtime.Caller(0); ok {
		candidates = append(candidates, filepath.Join(filepath.Dir(file), "..", "training"))
	}
	candidates = append(candidates, filepath.Join("examples", "training"))
	if exe, err := os.Executable(); err == nil {
		candidates = append(candidates, filepath.Join(filepath.Dir(exe), "..", "training"))
	}
	for _, c := range candidates {
		if _, err := os.Stat(filepath.Join(c, "train.py")); err == nil {
			return c, nil
		}
	}
	return "", errors.New("cannot find examples/training; pass -code-dir")
}

// embed starts the sandbox, points a client at it and runs the job. The
// sandbox lives in a temporary directory that is removed afterwards.
func embed(ctx context.Context, cfg config, stdout io.Writer) (err error) {
	dir, err := os.MkdirTemp("", "runctl-embed-")
	if err != nil {
		return fmt.Errorf("making the sandbox directory: %w", err)
	}
	defer os.RemoveAll(dir)

	// KillOnClose ends whatever the sandbox still runs when we return.
	srv, err := sandbox.Start(ctx, sandbox.Options{Dir: dir, KillOnClose: true})
	if err != nil {
		return fmt.Errorf("starting the sandbox: %w", err)
	}
	defer func() { err = errors.Join(err, srv.Close()) }()

	p := &eventPrinter{w: stdout}
	c, err := runctl.New(ctx,
		runctl.WithEndpoint(srv.URL()),
		runctl.WithAWSConfig(aws.Config{
			Region:      srv.Region(),
			Credentials: credentials.NewStaticCredentialsProvider("sandbox", "sandbox", ""),
		}),
		runctl.WithBucket(sandbox.DefaultBucket),
		runctl.WithPollInterval(100*time.Millisecond, time.Second),
		runctl.WithEventHandler(p.handle),
	)
	if err != nil {
		return fmt.Errorf("building the client: %w", err)
	}
	return train(ctx, c, cfg)
}

// train is the create → train → terminate walk-through. The terminate runs
// on a context that outlives ctx, so Ctrl-C still cleans up.
func train(ctx context.Context, c *runctl.Client, cfg config) (err error) {
	inst, err := c.CreateInstance(ctx, cfg.instanceType, runctl.Spot())
	if err != nil {
		return err
	}
	defer func() {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		err = errors.Join(err, c.Terminate(tctx, inst.ID))
	}()

	_, err = c.Train(ctx, inst.ID, cfg.script,
		runctl.WithCodeDir(cfg.codeDir),
		runctl.WithArgs("--epochs", fmt.Sprint(cfg.epochs)))
	return err
}
