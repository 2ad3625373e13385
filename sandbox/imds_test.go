package sandbox

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// imdsGet fetches a metadata path with an optional token.
func imdsGet(t *testing.T, base, path, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/latest/meta-data/"+path, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("X-aws-ec2-metadata-token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func imdsToken(t *testing.T, base string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, base+"/latest/api/token", nil)
	require.NoError(t, err)
	req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", "60")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestIMDSTokenFlow(t *testing.T) {
	srv := start(t, Options{Fast: true})
	c := newClients(srv, 1)
	id := launch(t, srv, c, runInput(t, c, "t3.micro", false))
	base := srv.URL() + "/_imds/" + id

	code, _ := imdsGet(t, base, "instance-id", "")
	assert.Equal(t, http.StatusUnauthorized, code, "IMDSv2 needs a token")
	code, _ = imdsGet(t, base, "instance-id", "forged")
	assert.Equal(t, http.StatusUnauthorized, code)

	tok := imdsToken(t, base)
	tests := []struct{ path, want string }{
		{"instance-id", id},
		{"instance-life-cycle", "on-demand"},
		{"instance-type", "t3.micro"},
		{"placement/availability-zone", "us-east-1a"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			code, body := imdsGet(t, base, tt.path, tok)
			assert.Equal(t, http.StatusOK, code)
			assert.Equal(t, tt.want, body)
		})
	}
	code, _ = imdsGet(t, base, "spot/instance-action", tok)
	assert.Equal(t, http.StatusNotFound, code)

	// A token is bound to its instance.
	other := launch(t, srv, c, runInput(t, c, "t3.micro", false))
	code, _ = imdsGet(t, srv.URL()+"/_imds/"+other, "instance-id", tok)
	assert.Equal(t, http.StatusUnauthorized, code)

	// The endpoint file names this server, for watchdogs that outlive it.
	inst, err := srv.Instance(id)
	require.NoError(t, err)
	b, err := os.ReadFile(inst.Dir + "/.sandbox/imds-endpoint")
	require.NoError(t, err)
	assert.Equal(t, base, strings.TrimSpace(string(b)))
}

func TestSpotInterruption(t *testing.T) {
	srv := start(t, Options{Fast: true, Faults: Faults{InterruptAfter: 200 * time.Millisecond,
		InterruptWindow: 600 * time.Millisecond}})
	c := newClients(srv, 1)
	id := launch(t, srv, c, runInput(t, c, "t3.micro", true))
	base := srv.URL() + "/_imds/" + id
	tok := imdsToken(t, base)

	code, body := imdsGet(t, base, "instance-life-cycle", tok)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "spot", body)

	// No job, no notice.
	time.Sleep(300 * time.Millisecond)
	code, _ = imdsGet(t, base, "spot/instance-action", tok)
	assert.Equal(t, http.StatusNotFound, code)

	out := run(t, c, id, shell(`mkdir -p "$RUNCTL_HOME/jobs/job-1"`,
		`setsid nohup sleep 300 >/dev/null 2>&1 & echo $!`))
	require.Equal(t, "Success", string(out.Status))
	started := time.Now()

	var notice struct{ Action, Time string }
	waitFor(t, 2*time.Second, "interruption notice", func() bool {
		code, body = imdsGet(t, base, "spot/instance-action", tok)
		return code == http.StatusOK && json.Unmarshal([]byte(body), &notice) == nil
	})
	assert.Equal(t, "terminate", notice.Action)
	at, err := time.Parse(time.RFC3339, notice.Time)
	require.NoError(t, err)
	// IMDS gives the time to the second.
	assert.WithinDuration(t, started.Add(800*time.Millisecond), at, 1500*time.Millisecond)
	inst, err := srv.Instance(id)
	require.NoError(t, err)
	assert.Equal(t, "running", inst.State, "the notice comes before the end")

	waitFor(t, 3*time.Second, "terminated", func() bool {
		inst, err = srv.Instance(id)
		return err == nil && inst.State == "terminated"
	})
	assert.Equal(t, "Server.SpotInstanceTermination", inst.StateReason)
	assert.Empty(t, srv.Processes(id), "the interruption kills the job")
}
