// Command runctlbench runs runctl's benchmark harness (package bench) and
// prints one Markdown table: packaging against tar czf, memory while
// shipping, change detection, following and launch overhead. bench/run.sh
// builds it and runs it with the defaults; progress goes to standard error.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"

	"github.com/runctl/runctl/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg := bench.DefaultConfig()
	fs := flag.NewFlagSet("runctlbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sections := fs.String("sections", strings.Join(bench.Sections, ","), "sections to run")
	fs.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "rounds of the packaging comparison")
	fs.DurationVar(&cfg.Quiet, "quiet", cfg.Quiet, "silence of the quiet job on default intervals")
	fs.DurationVar(&cfg.ScaledQuiet, "scaled-quiet", cfg.ScaledQuiet,
		"silence of the quiet jobs run five times faster, in real time")
	fs.DurationVar(&cfg.Flow, "flow", cfg.Flow, "how long the flowing jobs print")
	fs.IntVar(&cfg.LaunchRuns, "launch-runs", cfg.LaunchRuns, "launches per setting")
	fs.StringVar(&cfg.ShipBin, "ship-bin", "", "the benchship program, for the memory section")
	noCLI := fs.Bool("no-aws-cli", false, "do not compare with aws s3 sync")
	fs.IntVar(&cfg.Sizes.SmallFiles, "small-files", cfg.Sizes.SmallFiles, "files of the small tree")
	fs.Int64Var(&cfg.Sizes.LargeBytes, "large-bytes", cfg.Sizes.LargeBytes, "bytes of the large tree")
	fs.Int64Var(&cfg.Sizes.MLDataBytes, "ml-data-bytes", cfg.Sizes.MLDataBytes, "ignored bytes of the ML tree")
	fs.Int64Var(&cfg.Sizes.ShipBytes, "ship-bytes", cfg.Sizes.ShipBytes, "bytes shipped for memory")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg.AWSCLI = !*noCLI
	cfg.Log = stderr
	for _, s := range strings.Split(*sections, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !slices.Contains(bench.Sections, s) {
			fmt.Fprintf(stderr, "runctlbench: unknown section %q; the sections are %s\n", s,
				strings.Join(bench.Sections, ", "))
			return 2
		}
		cfg.Sections = append(cfg.Sections, s)
	}

	rep, err := bench.Run(ctx, cfg)
	if rep != nil {
		if werr := rep.Markdown(stdout); werr != nil {
			return 1
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "runctlbench:", err)
		return 1
	}
	if missed := rep.Missed(); len(missed) > 0 {
		fmt.Fprintf(stderr, "runctlbench: %d targets not met\n", len(missed))
	}
	return 0
}
