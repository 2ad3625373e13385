package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/runctl/runctl"
)

// printer turns the library's events into lines on stderr. On a terminal,
// waits and uploads redraw one live line; in a pipe they print plain lines
// at most every few seconds.
type printer struct {
	mu       sync.Mutex
	w        io.Writer
	logs     io.Writer // where the job's output goes; nil drops it
	tty      bool
	live     bool // a live line is on screen
	lastLine time.Time
	every    time.Duration
	// quietPreflight leaves preflight warnings to a command that prints
	// the whole checklist itself.
	quietPreflight bool
}

func newPrinter(w io.Writer) *printer {
	p := &printer{w: w, logs: w, every: 5 * time.Second}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

// handle is the library's event handler: it must not block, and writing a
// line to stderr does not.
func (p *printer) handle(_ context.Context, e runctl.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e := e.(type) {
	case runctl.PriceQuote:
		p.line("price: %s", quoteLine(e.Quote))
	case runctl.LaunchAttempt:
		p.line("launch: %s in %s failed: %s: %s; %s", e.Market, orAny(e.Zone), e.Err.Code, e.Err.Explanation, e.Next)
	case runctl.CostWarning:
		p.warn(e.Message)
	case runctl.InstanceLaunched:
		i := e.Instance
		p.line("launched %s: %s %s in %s at %s", i.ID, i.Market, i.Type, orAny(i.Zone), i.HourlyPrice)
	case runctl.WaitProgress:
		p.progress(e.Phase, fmt.Sprintf("%s: %s, %s of %s", waitName(e.Phase), e.State,
			e.Elapsed.Round(time.Second), e.Limit))
	case runctl.PhaseFinished:
		p.finished(e)
	case runctl.SyncProgress:
		p.sync(e)
	case runctl.SyncNote:
		p.line("note: %s", e.Message)
	case runctl.JobStarted:
		p.line("job %s started on %s: %s", e.Job.ID, e.Job.InstanceID, commandLine(e.Job))
	case runctl.LogOutput:
		p.clearLive()
		if p.logs != nil {
			_, _ = p.logs.Write(e.Data)
		}
	case runctl.OutputsUploaded:
		p.line("outputs of job %s uploaded to %s (%s)", e.JobID, e.URI, humanBytes(e.Bytes))
	case runctl.PreflightChecked:
		if p.quietPreflight {
			return
		}
		for _, c := range e.Checks {
			if c.Status == runctl.CheckWarning {
				p.line("preflight warning: %s: %s", c.Name, c.Detail)
			}
		}
	case runctl.InstanceTerminated:
		if e.Final {
			p.line("terminated %s", e.InstanceID)
		} else {
			p.line("%s is %s (billing has stopped; AWS is still cleaning up)", e.InstanceID, e.State)
		}
	}
}

func (p *printer) finished(e runctl.PhaseFinished) {
	if e.Err != nil {
		p.clearLive()
		return
	}
	switch e.Phase {
	case runctl.PhaseWaitRunning:
		p.line("%s is running (%s)", e.InstanceID, e.Elapsed.Round(100*time.Millisecond))
	case runctl.PhaseWaitSSM:
		p.line("%s is ready: SSM agent online (%s)", e.InstanceID, e.Elapsed.Round(100*time.Millisecond))
	case runctl.PhaseSync:
		p.line("code shipped (%s)", e.Elapsed.Round(100*time.Millisecond))
	}
}

func (p *printer) sync(e runctl.SyncProgress) {
	switch {
	case e.Skipped:
		p.line("sync: %d files, %s unchanged since the last upload: not uploaded again", e.Files, humanBytes(e.TotalBytes))
	case e.Uploaded:
		p.line("sync: uploaded %d files, %s", e.Files, humanBytes(e.TotalBytes))
	default:
		p.progress(runctl.PhaseSync, fmt.Sprintf("sync: packing %d files, %s of %s", e.Files,
			humanBytes(e.Bytes), humanBytes(e.TotalBytes)))
	}
}

// line prints one finished line, ending any live line first.
func (p *printer) line(format string, a ...any) {
	p.clearLive()
	fmt.Fprintf(p.w, format+"\n", a...)
}

// warn prints a cost warning so that it stands out.
func (p *printer) warn(msg string) {
	p.clearLive()
	if p.tty {
		fmt.Fprintf(p.w, "\x1b[1;33mCOST WARNING: %s\x1b[0m\n", msg)
		return
	}
	fmt.Fprintf(p.w, "COST WARNING: %s\n", msg)
}

// progress redraws the live line on a terminal, or prints a plain line at
// most every few seconds elsewhere.
func (p *printer) progress(_ runctl.Phase, msg string) {
	if p.tty {
		fmt.Fprintf(p.w, "\r\x1b[K%s", msg)
		p.live = true
		return
	}
	if time.Since(p.lastLine) < p.every {
		return
	}
	p.lastLine = time.Now()
	fmt.Fprintln(p.w, msg)
}

func (p *printer) clearLive() {
	if p.live {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.live = false
	}
	p.lastLine = time.Time{}
}

func waitName(ph runctl.Phase) string {
	switch ph {
	case runctl.PhaseWaitRunning:
		return "waiting for the instance to run"
	case runctl.PhaseWaitSSM:
		return "waiting for the SSM agent"
	case runctl.PhaseTerminate:
		return "waiting for termination"
	}
	return string(ph)
}

func quoteLine(q runctl.Quote) string {
	s := fmt.Sprintf("%s in %s: on-demand %s", q.InstanceType, q.Region, priceWithSource(q.OnDemand))
	if z, ok := q.CheapestSpot(); ok {
		s += fmt.Sprintf("; spot from %s in %s (%d zones)", z.Price, z.Zone, len(q.Spot))
		if q.OnDemand.Known && z.Price.USD > 0 {
			s += fmt.Sprintf(", %.0f%% less", 100*(1-z.Price.USD/q.OnDemand.USD))
		}
	} else {
		s += "; spot price unknown"
	}
	return s
}

func priceWithSource(p runctl.Price) string {
	if !p.Known {
		return "unknown"
	}
	if p.Source == "embedded" {
		return fmt.Sprintf("%s (runctl's table of %s)", p, p.AsOf.Format("2006-01-02"))
	}
	return fmt.Sprintf("%s (%s)", p, p.Source)
}

func commandLine(j runctl.Job) string {
	parts := []string{j.Script}
	for _, a := range j.Args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"$`\\") {
			a = fmt.Sprintf("%q", a)
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

func orAny(zone string) string {
	if zone == "" {
		return "any zone"
	}
	return zone
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
