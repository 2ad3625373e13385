// Command gen writes zz_generated_prices.go, the embedded price table of
// package prices, from AWS's public EC2 price list offer files.
//
// It keeps the hourly on-demand price of plain Linux instances (shared
// tenancy, no pre-installed software, not a capacity reservation) of the
// families in families.go, with each type's hardware. Run it from
// internal/prices with go generate, or by hand:
//
//	go run ./gen                                   # fetch the default regions
//	go run ./gen -regions us-east-1,eu-west-1      # fetch some regions
//	go run ./gen -file us-east-1=index.json.gz     # read downloaded copies
//
// Offer files are large (a gigabyte or more for us-east-1); they are read
// as a stream and never held whole in memory.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// defaultRegions are the regions most training runs start in.
var defaultRegions = []string{
	"us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1",
}

const defaultBaseURL = "https://pricing.us-east-1.amazonaws.com"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// config is the parsed command line.
type config struct {
	regions []string
	files   map[string]string // region to local offer file
	out     string
	fetch   fetchConfig
}

// run generates the table and returns the exit code: 0 done, 1 failed,
// 2 bad usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	cfg, err := parseFlags(args, stderr, logger)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "gen:", err)
		return 2
	}
	if err := generate(ctx, cfg, logger); err != nil {
		fmt.Fprintln(stderr, "gen:", err)
		return 1
	}
	fmt.Fprintln(stdout, "wrote", cfg.out)
	return 0
}

func parseFlags(args []string, stderr io.Writer, logger *slog.Logger) (config, error) {
	cfg := config{files: map[string]string{}}
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	regions := fs.String("regions", "",
		"comma-separated regions (default: those given by -file, else "+
			strings.Join(defaultRegions, ",")+")")
	fs.Func("file", "read `REGION=PATH` (an offer file, gzip'd or not) instead of "+
		"fetching it; repeatable", func(v string) error {
		region, path, ok := strings.Cut(v, "=")
		if !ok || region == "" || path == "" {
			return fmt.Errorf("want REGION=PATH, got %q", v)
		}
		cfg.files[region] = path
		return nil
	})
	fs.StringVar(&cfg.out, "out", "zz_generated_prices.go", "file to write")
	fs.StringVar(&cfg.fetch.baseURL, "base-url", defaultBaseURL, "price list base URL")
	fs.DurationVar(&cfg.fetch.timeout, "timeout", 30*time.Minute,
		"limit on one download attempt, body included")
	fs.IntVar(&cfg.fetch.retries, "retries", 5, "retries of a failed download")
	fs.DurationVar(&cfg.fetch.retryWaitMin, "retry-wait", 2*time.Second,
		"first wait between retries; it doubles up to 1m")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	cfg.fetch.retryWaitMax = max(time.Minute, cfg.fetch.retryWaitMin)
	cfg.fetch.logger = logger
	cfg.regions = chooseRegions(*regions, cfg.files)
	return cfg, nil
}

// chooseRegions returns the regions asked for, else those with local
// files, else the defaults.
func chooseRegions(flagValue string, files map[string]string) []string {
	if flagValue != "" {
		return strings.Split(flagValue, ",")
	}
	if len(files) == 0 {
		return defaultRegions
	}
	var out []string
	for r := range files {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// generate reads every region's offer file and writes the table.
func generate(ctx context.Context, cfg config, logger *slog.Logger) error {
	client := newHTTPClient(cfg.fetch)
	var offers []*offer
	for _, region := range cfg.regions {
		started := time.Now()
		body, err := openSource(ctx, cfg, client, region)
		if err != nil {
			return err
		}
		o, err := parseOffer(body, region)
		body.Close()
		if err != nil {
			return err
		}
		logger.Info("read offer file", "region", region, "types", len(o.rows),
			"elapsed", time.Since(started).Round(time.Millisecond))
		offers = append(offers, o)
	}

	h, rows, err := merge(offers, sourceOf(cfg))
	if err != nil {
		return err
	}
	src, err := render(h, rows)
	if err != nil {
		return err
	}
	return writeAtomic(cfg.out, src)
}

// openSource opens region's offer file: the local copy if one was given,
// else the download. The caller closes it.
func openSource(
	ctx context.Context,
	cfg config,
	client *retryablehttp.Client,
	region string,
) (io.ReadCloser, error) {
	if path, ok := cfg.files[region]; ok {
		return openOfferFile(path)
	}
	return fetchOffer(ctx, client, cfg.fetch.baseURL, region)
}

// merge checks the offers against each other and returns the header and
// all their rows.
func merge(offers []*offer, source string) (header, []row, error) {
	h := header{Source: source}
	var newest time.Time
	specs := map[string]spec{}
	var rows []row
	for _, o := range offers {
		if len(o.rows) == 0 {
			return header{}, nil, fmt.Errorf("%s: no instance type passed the filters", o.region)
		}
		if o.published.IsZero() {
			return header{}, nil, fmt.Errorf("%s: offer file has no publicationDate", o.region)
		}
		newest = later(newest, o.published)
		h.Regions = append(h.Regions, o.region)
		for _, r := range o.rows {
			if s, ok := specs[r.spec.Type]; ok && s != r.spec {
				return header{}, nil, fmt.Errorf("%s: %s is %+v here but %+v elsewhere",
					o.region, r.spec.Type, r.spec, s)
			}
			specs[r.spec.Type] = r.spec
			rows = append(rows, r)
		}
	}
	h.Date = newest.UTC().Format(time.DateOnly)
	return h, rows, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// sourceOf names where the offer files came from, without local paths,
// which mean nothing on another machine.
func sourceOf(cfg config) string {
	const name = "AWS EC2 price list offer files"
	if len(cfg.files) > 0 {
		return name + " (local copies of current/<region>/index.json)"
	}
	return name + " (" + strings.TrimRight(cfg.fetch.baseURL, "/") +
		fmt.Sprintf(offerPath, "<region>") + ")"
}

// writeAtomic writes data to a temporary file beside path and renames it
// into place, so an interrupted run leaves the old table intact.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".prices-*.go.tmp")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
