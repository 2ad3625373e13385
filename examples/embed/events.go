package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/runctl/runctl"
)

// eventPrinter writes each event as one line: its Go type, then what it
// says. The job's output is passed through line by line, each line under
// the type that carried it.
type eventPrinter struct {
	mu sync.Mutex
	w  io.Writer
}

// handle is the client's event handler. It is called synchronously from the
// goroutine doing the work, so it only formats and writes.
func (p *eventPrinter) handle(_ context.Context, e runctl.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if out, ok := e.(runctl.LogOutput); ok {
		for line := range bytes.Lines(out.Data) {
			fmt.Fprintf(p.w, "%-28T %s\n", e, bytes.TrimRight(line, "\r\n"))
		}
		return
	}
	fmt.Fprintf(p.w, "%-28T %s\n", e, describe(e))
}

// describe names the fields a caller most often reads from each event.
func describe(e runctl.Event) string {
	switch e := e.(type) {
	case runctl.PhaseStarted:
		return fmt.Sprintf("phase=%s instance=%s %s", e.Phase, e.InstanceID, e.Detail)
	case runctl.PhaseFinished:
		return fmt.Sprintf("phase=%s instance=%s elapsed=%s err=%s", e.Phase, e.InstanceID,
			e.Elapsed.Round(time.Millisecond), errText(e.Err))
	case runctl.WaitProgress:
		return fmt.Sprintf("phase=%s instance=%s state=%q elapsed=%s limit=%s",
			e.Phase, e.InstanceID, e.State, e.Elapsed.Round(time.Millisecond), e.Limit)
	case runctl.PriceQuote:
		spot, _ := e.Quote.CheapestSpot()
		return fmt.Sprintf("type=%s region=%s on-demand=%s cheapest-spot=%s in %s",
			e.Quote.InstanceType, e.Quote.Region, e.Quote.OnDemand, spot.Price, spot.Zone)
	case runctl.LaunchAttempt:
		return fmt.Sprintf("market=%s zone=%s code=%s next=%q", e.Market, e.Zone, e.Err.Code, e.Next)
	case runctl.CostWarning, runctl.SyncNote:
		return fmt.Sprintf("%+v", e)
	case runctl.InstanceLaunched:
		i := e.Instance
		return fmt.Sprintf("instance=%s market=%s type=%s zone=%s price=%s", i.ID, i.Market, i.Type, i.Zone, i.HourlyPrice)
	case runctl.SyncProgress:
		return fmt.Sprintf("files=%d bytes=%d/%d uploaded=%t skipped=%t",
			e.Files, e.Bytes, e.TotalBytes, e.Uploaded, e.Skipped)
	case runctl.JobStarted:
		return fmt.Sprintf("job=%s instance=%s script=%s args=%q", e.Job.ID, e.Job.InstanceID, e.Job.Script, e.Job.Args)
	case runctl.JobFinished:
		r := e.Result
		return fmt.Sprintf("job=%s exit=%d interrupted=%t duration=%s cost=%s",
			r.Job.ID, r.ExitCode, r.Interrupted, r.Duration.Round(time.Millisecond), cost(r))
	case runctl.InstanceTerminated:
		return fmt.Sprintf("instance=%s state=%s final=%t", e.InstanceID, e.State, e.Final)
	}
	return strings.ReplaceAll(fmt.Sprintf("%+v", e), "\n", " ")
}

func errText(err error) string {
	if err == nil {
		return "none"
	}
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

func cost(r runctl.Result) string {
	if !r.CostKnown {
		return "unknown"
	}
	return fmt.Sprintf("$%.4f", r.Cost)
}
