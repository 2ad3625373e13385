package bench

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// Row is one line of the report's table.
type Row struct {
	What    string // the measurement
	Case    string // the tree or setting it was made on
	Runctl  string // what runctl did
	Instead string // what the usual tool did, or a model, or ""
	Target  string // the target, or "" for a number reported for context
	Result  string // the verdict, starting with "met" or "NOT met" when there is a target
}

// Report is the outcome of [Run]: the table and notes on how it was made.
type Report struct {
	Machine string
	Started time.Time
	Elapsed time.Duration
	Rows    []Row
	Notes   []string
}

// Add appends rows to the report.
func (r *Report) Add(rows ...Row) { r.Rows = append(r.Rows, rows...) }

// Note appends a note printed under the table.
func (r *Report) Note(format string, a ...any) { r.Notes = append(r.Notes, fmt.Sprintf(format, a...)) }

// Missed returns the rows whose target was not met.
func (r *Report) Missed() []Row {
	var out []Row
	for _, row := range r.Rows {
		if strings.HasPrefix(row.Result, "NOT met") {
			out = append(out, row)
		}
	}
	return out
}

// Markdown writes the report as a Markdown table with its notes.
func (r *Report) Markdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Machine: %s. Run %s, took %s.\n\n", r.Machine,
		r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Elapsed.Round(time.Second))
	b.WriteString("| measurement | case | runctl | instead / model | target | result |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- |\n")
	for _, row := range r.Rows {
		cells := []string{row.What, row.Case, row.Runctl, row.Instead, row.Target, row.Result}
		for i, c := range cells {
			cells[i] = strings.ReplaceAll(c, "|", `\|`)
		}
		fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | "))
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Machine describes this machine in one line: CPU model, cores, memory and
// Go version.
func Machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kib int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kib); err == nil {
			mem = fmt.Sprintf(", %.0f GiB RAM", float64(kib)/(1<<20))
		}
	}
	return fmt.Sprintf("%s, %d cores%s, %s/%s, %s", model, runtime.NumCPU(), mem,
		runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// verdict words a result against its target.
func verdict(ok bool, value string) string {
	if ok {
		return "met: " + value
	}
	return "NOT met: " + value
}

// secs formats a duration for the table: milliseconds below a second,
// seconds with as many decimals as they need above.
func secs(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", d.Seconds()), ".0") + " s"
	case d >= time.Second:
		return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", d.Seconds()), "0"), ".") + " s"
	case d >= 10*time.Millisecond || d == 0:
		return fmt.Sprintf("%d ms", d.Round(time.Millisecond).Milliseconds())
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// plural counts n things named by a word that takes -es.
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ses", n, word)
}
