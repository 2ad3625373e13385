package main

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunFromFile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "zz_generated_prices.go")
	var stdout, stderr bytes.Buffer

	code := run(t.Context(), []string{"-file", "us-east-1=" + fixturePath, "-out", out},
		&stdout, &stderr)

	require.Equal(t, 0, code, "stderr: %s", stderr.String())
	assertFileEqualsGolden(t, out, nil)
	assert.Contains(t, stdout.String(), "wrote "+out)
}

func TestRunFromGzipFile(t *testing.T) {
	dir := t.TempDir()
	gz := filepath.Join(dir, "index.json.gz")
	writeGzip(t, gz, fixtureBytes(t))
	out := filepath.Join(dir, "zz_generated_prices.go")
	var stdout, stderr bytes.Buffer

	code := run(t.Context(), []string{"-file", "us-east-1=" + gz, "-out", out}, &stdout, &stderr)

	require.Equal(t, 0, code, "stderr: %s", stderr.String())
	assertFileEqualsGolden(t, out, nil)
}

// offerServer serves the fixture as every region's offer file, with the
// region's code in place of us-east-1, after failing the first fails
// requests with 503.
type offerServer struct {
	mu       sync.Mutex
	fails    int
	status   int // answer for every request when non-zero
	requests []string
}

func (s *offerServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.URL.Path)
	fail := s.fails > 0
	s.fails--
	s.mu.Unlock()

	switch {
	case s.status != 0:
		http.Error(w, "no", s.status)
	case fail:
		http.Error(w, "slow down", http.StatusServiceUnavailable)
	default:
		region := strings.Split(r.URL.Path, "/")[6]
		b, _ := os.ReadFile(fixturePath)
		w.Write(bytes.ReplaceAll(b, []byte(`"us-east-1"`), []byte(`"`+region+`"`)))
	}
}

func (s *offerServer) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

func TestRunFetchesWithRetries(t *testing.T) {
	offers := &offerServer{fails: 2}
	srv := httptest.NewServer(offers)
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "zz_generated_prices.go")
	var stdout, stderr bytes.Buffer

	code := run(t.Context(), []string{"-base-url", srv.URL + "/", "-regions", "us-east-1",
		"-retry-wait", "1ms", "-out", out}, &stdout, &stderr)

	require.Equal(t, 0, code, "stderr: %s", stderr.String())
	want := "/offers/v1.0/aws/AmazonEC2/current/us-east-1/index.json"
	assert.Equal(t, []string{want, want, want}, offers.seen())
	assertFileEqualsGolden(t, out, strings.NewReplacer(
		"local copies of current/<region>/index.json",
		srv.URL+"/offers/v1.0/aws/AmazonEC2/current/<region>/index.json"))
}

func TestRunFetchesEveryRegion(t *testing.T) {
	offers := &offerServer{}
	srv := httptest.NewServer(offers)
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "zz_generated_prices.go")
	var stdout, stderr bytes.Buffer

	code := run(t.Context(), []string{"-base-url", srv.URL, "-regions", "us-east-1,eu-west-1",
		"-out", out}, &stdout, &stderr)

	require.Equal(t, 0, code, "stderr: %s", stderr.String())
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Contains(t, string(b), `{"eu-west-1", "m5.large", 0.096}`)
	assert.Contains(t, string(b), `{"us-east-1", "m5.large", 0.096}`)
	assert.Contains(t, string(b), "for\n// us-east-1, eu-west-1, published")
}

func TestRunFailures(t *testing.T) {
	tests := []struct {
		name     string
		server   *offerServer
		args     []string
		wantCode int
		wantErr  string
		wantReqs int
	}{
		{
			name:     "not found is not retried",
			server:   &offerServer{status: http.StatusNotFound},
			wantCode: 1,
			wantErr:  "404 Not Found",
			wantReqs: 1,
		},
		{
			name:     "gives up after the retries",
			server:   &offerServer{fails: 100},
			args:     []string{"-retries", "2"},
			wantCode: 1,
			wantErr:  "giving up after 3 attempt(s)",
			wantReqs: 3,
		},
		{
			name:     "bad -file value",
			server:   &offerServer{},
			args:     []string{"-file", "us-east-1"},
			wantCode: 2,
			wantErr:  "want REGION=PATH",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.server)
			defer srv.Close()
			out := filepath.Join(t.TempDir(), "zz_generated_prices.go")
			args := append([]string{"-base-url", srv.URL, "-regions", "us-east-1",
				"-retry-wait", "1ms", "-out", out}, tt.args...)
			var stdout, stderr bytes.Buffer

			code := run(t.Context(), args, &stdout, &stderr)

			assert.Equal(t, tt.wantCode, code)
			assert.Contains(t, stderr.String(), tt.wantErr)
			assert.Len(t, tt.server.seen(), tt.wantReqs)
			assert.NoFileExists(t, out)
		})
	}
}

func TestRunKeepsOldTableOnFailure(t *testing.T) {
	out := filepath.Join(t.TempDir(), "zz_generated_prices.go")
	require.NoError(t, os.WriteFile(out, []byte("old"), 0o644))
	broken := filepath.Join(t.TempDir(), "index.json")
	require.NoError(t, os.WriteFile(broken, fixtureBytes(t)[:1000], 0o644))
	var stdout, stderr bytes.Buffer

	code := run(t.Context(), []string{"-file", "us-east-1=" + broken, "-out", out},
		&stdout, &stderr)

	assert.Equal(t, 1, code)
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, "old", string(b))
}

func assertFileEqualsGolden(t *testing.T, path string, fix *strings.Replacer) {
	t.Helper()
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	want, err := os.ReadFile(goldenPath)
	require.NoError(t, err)
	if fix != nil {
		want = []byte(fix.Replace(string(want)))
	}
	assert.Equal(t, string(want), string(got))
}

func fixtureBytes(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(fixturePath)
	require.NoError(t, err)
	return b
}

func writeGzip(t *testing.T, path string, data []byte) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(data)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
}
