package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// offerPath is where a region's current EC2 offer file lives under the
// price list's base URL.
const offerPath = "/offers/v1.0/aws/AmazonEC2/current/%s/index.json"

// fetchConfig says how offer files are downloaded.
type fetchConfig struct {
	baseURL      string
	timeout      time.Duration // per attempt, body included
	retries      int
	retryWaitMin time.Duration
	retryWaitMax time.Duration
	logger       *slog.Logger
}

// newHTTPClient returns a client that retries connection errors, 429s and
// 5xx answers with exponential backoff.
func newHTTPClient(cfg fetchConfig) *retryablehttp.Client {
	c := retryablehttp.NewClient()
	c.RetryMax = cfg.retries
	c.RetryWaitMin = cfg.retryWaitMin
	c.RetryWaitMax = cfg.retryWaitMax
	c.HTTPClient.Timeout = cfg.timeout
	c.Logger = cfg.logger // *slog.Logger satisfies retryablehttp.LeveledLogger
	return c
}

// fetchOffer downloads region's offer file. The caller closes the body.
func fetchOffer(
	ctx context.Context,
	c *retryablehttp.Client,
	baseURL, region string,
) (io.ReadCloser, error) {
	url := strings.TrimRight(baseURL, "/") + fmt.Sprintf(offerPath, region)
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("building request for %s: %w", url, err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("fetching %s: %s", url, resp.Status)
	}
	return resp.Body, nil
}

// openOfferFile opens a local copy of an offer file, gzip'd or not. The
// caller closes the result.
func openOfferFile(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening offer file: %w", err)
	}
	br := bufio.NewReader(f)
	magic, _ := br.Peek(2)
	if len(magic) < 2 || magic[0] != 0x1f || magic[1] != 0x8b {
		return readCloser{br, f}, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening gzip'd offer file %s: %w", path, err)
	}
	return readCloser{zr, f}, nil
}

// readCloser reads from one reader and closes the file beneath it.
type readCloser struct {
	io.Reader
	io.Closer
}
