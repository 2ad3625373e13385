package sandbox

import (
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// busyBootScript behaves like runctl's boot script: it lays out the
// instance's runctl directory and leaves a detached loop writing there,
// through a chain of execs (setsid, nohup, bash) as the watchdog's start
// does.
const busyBootScript = `#!/bin/bash
mkdir -p "$RUNCTL_HOME/bin" "$RUNCTL_HOME/jobs"
setsid nohup bash -c 'while :; do mkdir -p "$RUNCTL_HOME/jobs/x"; date >>"$RUNCTL_HOME/watchdog.log"; sleep 0.01; done' >/dev/null 2>&1 </dev/null &
`

// busyCommand starts a detached job that keeps writing into the instance.
const busyCommand = `setsid nohup bash -c 'while :; do mkdir -p "$HOME/out"; date >>"$HOME/out/log"; sleep 0.01; done' >/dev/null 2>&1 </dev/null &`

// TestCloseLeavesNothingWriting closes servers with KillOnClose at several
// points of an instance's life and removes the state directory at once:
// when Close returns, nothing of the sandbox may write there any more. It
// used to fail when the reconcile ticker booted the instance while Close
// ran, and when the kill's scan of /proc missed the boot script's child in
// the middle of an exec.
func TestCloseLeavesNothingWriting(t *testing.T) {
	stages := []struct {
		name string
		// before runs between the launch and Close.
		before func(t *testing.T, srv *Server, c clients, id string)
	}{
		{"right after launch", func(*testing.T, *Server, clients, string) {}},
		{"while booting", func(*testing.T, *Server, clients, string) { time.Sleep(40 * time.Millisecond) }},
		{"online", func(t *testing.T, srv *Server, _ clients, id string) { waitOnline(t, srv, id) }},
		{"command in flight", func(t *testing.T, srv *Server, c clients, id string) {
			waitOnline(t, srv, id)
			_, err := c.ssm.SendCommand(context.Background(), &ssm.SendCommandInput{
				DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: []string{id},
				Parameters: shell(busyCommand, "sleep 5")})
			require.NoError(t, err)
			time.Sleep(15 * time.Millisecond)
		}},
	}
	ami := imageFor(t, al2023x86)
	for _, st := range stages {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			for range 5 {
				closeAndRemove(t, ami, st.before)
			}
		})
	}
}

// closeAndRemove runs one launch, the stage's steps, Close and an
// immediate removal of the state directory, which fails if anything still
// creates files there.
func closeAndRemove(t *testing.T, ami string, before func(*testing.T, *Server, clients, string)) {
	t.Helper()
	dir, err := os.MkdirTemp("", "sandbox-close-")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	srv, err := Start(context.Background(), Options{Dir: dir, Fast: true, KillOnClose: true})
	require.NoError(t, err)
	c := newClients(srv, 1)
	in := runInputAMI(ami, "t3.micro", false)
	in.UserData = aws.String(base64.StdEncoding.EncodeToString([]byte(busyBootScript)))
	out, err := c.ec2.RunInstances(context.Background(), in)
	require.NoError(t, err)
	id := aws.ToString(out.Instances[0].InstanceId)
	before(t, srv, c, id)

	require.NoError(t, srv.Close())
	if err := os.RemoveAll(dir); err != nil {
		left, _ := exec.Command("find", dir).CombinedOutput()
		t.Fatalf("something still writes into the state directory: %v\n%s", err, left)
	}
	time.Sleep(30 * time.Millisecond)
	_, err = os.Stat(dir)
	assert.True(t, os.IsNotExist(err), "something recreated the state directory after Close")
	assert.Empty(t, instancePIDs(id), "processes of the instance outlived Close")
}

func waitOnline(t *testing.T, srv *Server, id string) {
	t.Helper()
	waitFor(t, 3*time.Second, "agent online", func() bool {
		inst, err := srv.Instance(id)
		return err == nil && inst.AgentOnline
	})
}
