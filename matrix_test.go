package runctl_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/runctl/runctl"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite docs/RELIABILITY.md from the fault matrix")

// matrixCase is one cell of the fault matrix: a run under a sandbox fault,
// or cancelled when a phase starts.
type matrixCase struct {
	name     string
	faults   string
	cancelAt runctl.Phase // cancel the run's context when this phase starts
	spot     bool
	train    []string // script arguments
}

// matrixCases are the rows of the table in docs/RELIABILITY.md.
var matrixCases = []matrixCase{
	{name: "no fault", spot: true},
	{name: "spot-capacity", faults: "spot-capacity", spot: true},
	{name: "spot-quota", faults: "spot-quota", spot: true},
	{name: "spot-price", faults: "spot-price", spot: true},
	{name: "spot-capacity + ondemand-capacity", faults: "spot-capacity,ondemand-capacity", spot: true},
	{name: "spot-quota + ondemand-quota", faults: "spot-quota,ondemand-quota", spot: true},
	{name: "ondemand-quota", faults: "ondemand-quota"},
	{name: "throttle=3", faults: "throttle=3", spot: true},
	{name: "boot-delay=300ms", faults: "boot-delay=300ms", spot: true},
	{name: "ssm-delay=300ms", faults: "ssm-delay=300ms", spot: true},
	{name: "ssm-never", faults: "ssm-never", spot: true},
	{name: "interrupt-after=1s", faults: "interrupt-after=1s,interrupt-window=1s", spot: true,
		train: []string{"--sleep", "20"}},
	{name: "failing script", spot: true, train: []string{"--exit", "3"}},
	{name: "cancel at launch", cancelAt: runctl.PhaseLaunch, spot: true},
	{name: "cancel at wait-running", faults: "boot-delay=2s", cancelAt: runctl.PhaseWaitRunning, spot: true},
	{name: "cancel at wait-ssm", faults: "ssm-delay=2s", cancelAt: runctl.PhaseWaitSSM, spot: true},
	{name: "cancel at sync", cancelAt: runctl.PhaseSync, spot: true},
	{name: "cancel at start", cancelAt: runctl.PhaseStart, spot: true},
	{name: "cancel at follow", cancelAt: runctl.PhaseFollow, spot: true, train: []string{"--sleep", "20"}},
	{name: "cancel at terminate", cancelAt: runctl.PhaseTerminate, spot: true},
}

// matrixScript prints, sleeps and exits as its arguments say, and handles
// SIGTERM the way a training script should.
const matrixScript = `#!/bin/bash
trap 'echo "got SIGTERM"; exit 143' TERM
sleep=0; code=0
while [ $# -gt 0 ]; do case $1 in --sleep) sleep=$2; shift;; --exit) code=$2; shift;; esac; shift; done
echo "working"
for ((i = 0; i < sleep * 10; i++)); do sleep 0.1; done
echo "done"
exit $code
`

func TestFaultMatrix(t *testing.T) {
	dir := codeDir(t, map[string]string{"job.sh": matrixScript})
	rows := make([]string, len(matrixCases))
	var wg sync.WaitGroup
	for i, mc := range matrixCases {
		wg.Add(1)
		t.Run(mc.name, func(t *testing.T) {
			defer wg.Done()
			t.Parallel()
			rows[i] = runMatrixCase(t, mc, dir)
		})
	}
	t.Cleanup(func() { checkReliabilityDoc(t, rows) })
}

func runMatrixCase(t *testing.T, mc matrixCase, dir string) string {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var fellBack bool
	handler := func(_ context.Context, e runctl.Event) {
		switch e := e.(type) {
		case runctl.PhaseStarted:
			if e.Phase == mc.cancelAt {
				cancel()
			}
		case runctl.CostWarning:
			fellBack = fellBack || e.Code != ""
		}
	}
	env := startSandbox(t, mc.faults, runctl.WithEventHandler(handler))
	create := []runctl.CreateOption{runctl.WithReadyTimeout(time.Second)}
	if mc.spot {
		create = append(create, runctl.Spot())
	}
	res, err := env.c.Run(ctx, "t3.micro", "job.sh", runctl.RunOptions{Create: create,
		Train: []runctl.TrainOption{runctl.WithCodeDir(dir), runctl.WithArgs(mc.train...)}})

	left := env.running(t)
	assert.Empty(t, left, "nothing may be left running")
	outcome := describeOutcome(res, err, fellBack)
	if err != nil && !strings.HasPrefix(outcome, "script exited") {
		assert.NotEmpty(t, phaseOf(err), "the error names the phase: %v", err)
	}
	return fmt.Sprintf("| %s | %s | %d |", mc.name, outcome, len(left))
}

// describeOutcome says how a run ended in the words of the table.
func describeOutcome(res *runctl.Result, err error, fellBack bool) string {
	var (
		je  *runctl.JobError
		pre string
	)
	if fellBack {
		pre = "fell back to on-demand; "
	}
	switch {
	case err == nil:
		return pre + "success, exit 0"
	case errors.As(err, &je):
		return pre + fmt.Sprintf("script exited %d, passed through", je.ExitCode)
	case errors.Is(err, runctl.ErrInterrupted):
		return pre + "interrupted, reported as such (not a failure)"
	case errors.Is(err, context.Canceled):
		return pre + fmt.Sprintf("cancelled in %s", phaseOf(err))
	case errors.Is(err, runctl.ErrTimeout):
		return pre + fmt.Sprintf("timed out in %s", phaseOf(err))
	case errors.Is(err, runctl.ErrQuota):
		return pre + "refused: account quota"
	case errors.Is(err, runctl.ErrNoCapacity):
		return pre + "refused: no capacity"
	}
	return pre + "error: " + err.Error()
}

// phaseOf returns the phase an error names.
func phaseOf(err error) runctl.Phase {
	var (
		pe *runctl.PhaseError
		te *runctl.TimeoutError
		le *runctl.LaunchError
		ie *runctl.InterruptedError
	)
	switch {
	case errors.As(err, &te):
		return te.Phase
	case errors.As(err, &pe):
		return pe.Phase
	case errors.As(err, &le):
		return runctl.PhaseLaunch
	case errors.As(err, &ie):
		return runctl.PhaseFollow
	}
	return ""
}

const (
	docPath    = "docs/RELIABILITY.md"
	tableStart = "<!-- fault matrix: generated by TestFaultMatrix -update-docs -->"
	tableEnd   = "<!-- end of fault matrix -->"
)

// checkReliabilityDoc compares the table in the docs with what the matrix
// measured, or rewrites it with -update-docs.
func checkReliabilityDoc(t *testing.T, rows []string) {
	for _, r := range rows {
		if r == "" || t.Failed() {
			return // a filtered or failed run has no table to compare
		}
	}
	table := "| run | outcome | instances left running |\n| --- | --- | --- |\n" + strings.Join(rows, "\n") + "\n"
	doc, err := os.ReadFile(docPath)
	require.NoError(t, err)
	start := strings.Index(string(doc), tableStart)
	end := strings.Index(string(doc), tableEnd)
	require.True(t, start >= 0 && end > start, "%s lacks the table markers", docPath)
	current := string(doc[start+len(tableStart)+1 : end])
	if *updateDocs {
		updated := string(doc[:start+len(tableStart)+1]) + table + string(doc[end:])
		require.NoError(t, os.WriteFile(docPath, []byte(updated), 0o644))
		return
	}
	assert.Equal(t, table, current, "the fault matrix changed: go test -run TestFaultMatrix -update-docs")
}
