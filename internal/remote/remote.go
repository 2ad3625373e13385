// Package remote holds what runctl runs on an instance: the boot script
// that starts the watchdog, the job runner, and the shell commands sent
// through SSM to start and follow a job, with the parser of their output.
package remote

import (
	"bytes"
	_ "embed"
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed watchdog.sh
var watchdogScript []byte

//go:embed job.sh
var jobScript []byte

// MaxChunk is the most log bytes one poll returns. Base64 makes it 21,848
// characters, which with the status lines stays under the 24,000 characters
// of standard output that SSM keeps per command.
const MaxChunk = 16 << 10

// MaxArgsBytes bounds the script's arguments together. They travel inside
// SSM commands, whose size AWS limits; a larger configuration belongs in a
// file in the code directory.
const MaxArgsBytes = 8 << 10

// home is the shell expression for runctl's directory on the instance.
const home = `"${RUNCTL_HOME:-/opt/runctl}"`

// Quote returns s as one single-quoted shell word. Every byte but NUL
// survives it.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// BootScript returns the user data that starts the watchdog at boot. A
// maxLifetime of zero sets no limit.
func BootScript(maxLifetime time.Duration) []byte {
	var b bytes.Buffer
	b.WriteString("#!/bin/bash\n# runctl: start the watchdog that bounds this instance's life.\n")
	fmt.Fprintf(&b, "home=%s\nmkdir -p \"$home/bin\" \"$home/jobs\"\n", home)
	fmt.Fprintf(&b, "printf %%s %s | base64 -d >\"$home/bin/watchdog.sh\"\n",
		Quote(base64.StdEncoding.EncodeToString(watchdogScript)))
	fmt.Fprintf(&b, "RUNCTL_MAX_LIFETIME=%d setsid nohup bash \"$home/bin/watchdog.sh\" "+
		">>\"$home/watchdog.log\" 2>&1 </dev/null &\n", int64(maxLifetime.Seconds()))
	return b.Bytes()
}

// Job describes a job to start.
type Job struct {
	ID       string
	Script   string   // path relative to the code directory
	Args     []string // passed to the script byte for byte
	CodeURL  string   // presigned URL of the code archive; empty reuses the last code shipped
	CodeHash string   // names the unpacked code on the instance
	Env      map[string]string
	Token    string // names this start, so a repeated delivery is recognised
	DataURL  string // presigned URL of the list of data objects to fetch, if any
	OutputS3 string // where the outputs go when the job ends, if anywhere
	// ClientTimeout, when positive, has the watchdog end the instance once
	// no poll has reached it for that long.
	ClientTimeout time.Duration
}

// StartCommand returns the shell script that unpacks the code, writes the
// job directory and starts the job runner detached, so the job outlives the
// SSM command and its time limit.
func StartCommand(j Job) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("set -eu")
	w("home=%s", home)
	w("dir=\"$home/jobs/\"%s", Quote(j.ID))
	w("mkdir -p \"$home/jobs\" \"$home/code\"")
	// A plain mkdir fails when the job exists: a reused ID must never mix
	// two jobs' logs and exit codes. SendCommand has no idempotency token,
	// so a retried delivery of this same command finds its own token and
	// stops there, reporting the job started.
	w("token=%s", Quote(j.Token))
	w("if ! mkdir \"$dir\" 2>/dev/null; then")
	w("  for _ in 1 2 3 4 5 6 7 8 9 10; do [ -s \"$dir/token\" ] && break; sleep 0.5; done")
	w("  if [ -n \"$token\" ] && [ \"$(cat \"$dir/token\" 2>/dev/null)\" = \"$token\" ]; then echo started %s; exit 0; fi",
		Quote(j.ID))
	w("  echo 'runctl: job '%s' already exists on this instance' >&2; exit 5", Quote(j.ID))
	w("fi")
	w("printf %%s \"$token\" >\"$dir/token\"")
	if j.ClientTimeout > 0 {
		w("date +%%s >\"$home/client-heartbeat\"")
		w("echo %d >\"$home/client-timeout\"", int64(j.ClientTimeout.Seconds()))
	}
	if j.CodeURL != "" {
		w("code=\"$home/code/\"%s", Quote(j.CodeHash))
		w("if [ ! -d \"$code\" ]; then")
		w("  curl -fsS --retry 5 --retry-all-errors --connect-timeout 10 --max-time 1800 -o \"$dir/code.tgz\" %s",
			Quote(j.CodeURL))
		// Each start unpacks on its own, so two jobs starting at once
		// with the same code cannot trip over one another.
		w("  tmp=$(mktemp -d \"$code.tmp.XXXXXX\")")
		w("  tar -xzmf \"$dir/code.tgz\" -C \"$tmp\" --no-same-owner")
		w("  mv -T \"$tmp\" \"$code\" 2>/dev/null || rm -rf \"$tmp\"")
		w("  rm -f \"$dir/code.tgz\"")
		w("fi")
		w("ln -sfn \"$code\" \"$home/code/latest\"")
	} else {
		w("code=\"$home/code/latest\"")
		w("[ -d \"$code\" ] || { echo 'runctl: no code on this instance; ship it with --sync-code' >&2; exit 3; }")
	}
	w("mkdir -p \"$dir/code\" && cp -a \"$code/.\" \"$dir/code/\"")
	w("[ -e \"$dir/code/\"%s ] || { echo 'runctl: script '%s' is not in the shipped code' >&2; exit 4; }",
		Quote(j.Script), Quote(j.Script))
	if j.DataURL != "" {
		w("curl -fsS --retry 5 --retry-all-errors --connect-timeout 10 -o \"$dir/data.tsv\" %s", Quote(j.DataURL))
	}
	if j.OutputS3 != "" {
		w("printf %%s %s >\"$dir/output_s3\"", Quote(j.OutputS3))
	}
	w("printf %%s %s >\"$dir/script\"", Quote(j.Script))
	w("printf %%s %s | base64 -d >\"$dir/args\"", Quote(base64.StdEncoding.EncodeToString(argsFile(j.Args))))
	w("printf %%s %s | base64 -d >\"$dir/job.sh\"", Quote(base64.StdEncoding.EncodeToString(jobScript)))
	w("printf %%s %s | base64 -d >\"$dir/env\"", Quote(base64.StdEncoding.EncodeToString(envFile(j.Env))))
	w("echo starting >\"$dir/status\"")
	w("ln -sfn \"$dir\" \"$home/jobs/latest\"")
	w("if [ \"${RUNCTL_DETACH:-}\" != setsid ] && command -v systemd-run >/dev/null 2>&1 && [ -d /run/systemd/system ]; then")
	w("  systemd-run --quiet --collect --unit=\"runctl-\"%s bash -c 'set -a; . \"$1/env\"; set +a; exec bash \"$1/job.sh\" \"$1\" >>\"$1/log\" 2>&1' runctl \"$dir\"",
		Quote(j.ID))
	w("else")
	w("  (set -a; . \"$dir/env\"; set +a; exec setsid nohup bash \"$dir/job.sh\" \"$dir\" >>\"$dir/log\" 2>&1 </dev/null &)")
	w("fi")
	w("echo started %s", Quote(j.ID))
	return b.String()
}

func argsFile(args []string) []byte {
	var b bytes.Buffer
	for _, a := range args {
		b.WriteString(base64.StdEncoding.EncodeToString([]byte(a)))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func envFile(env map[string]string) []byte {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, Quote(env[k]))
	}
	return b.Bytes()
}

// PollCommand returns the shell script that reports a job's state and the
// log bytes from offset on, at most max of them. jobID "latest" means the
// job started last. The exit code is read before the log size, so once it
// is known the size is final and reading up to it reads every byte.
func PollCommand(jobID string, offset int64, max int, meta bool) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("home=%s", home)
	w("dir=\"$home/jobs/\"%s", Quote(jobID))
	w("[ -d \"$dir\" ] || { echo nojob; exit 0; }")
	w("date +%%s >\"$home/client-heartbeat\" 2>/dev/null")
	w("echo \"job $(basename \"$(readlink -f \"$dir\")\")\"")
	w("echo \"status $(cat \"$dir/status\" 2>/dev/null || echo starting)\"")
	w("echo \"exit $(cat \"$dir/exit_code\" 2>/dev/null || echo -)\"")
	w("size=$(stat -c %%s \"$dir/log\" 2>/dev/null || echo 0)")
	w("echo \"size $size\"")
	w("num() { v=$(cat \"$dir/$1\" 2>/dev/null); echo \"${v:-0}\"; }")
	w("echo \"times $(num started_at) $(num finished_at) $(num heartbeat) $(date +%%s%%3N)\"")
	if meta {
		// The script's arguments can be long: they are sent only when asked,
		// with no log bytes beside them.
		w("echo \"script $(base64 -w0 <\"$dir/script\" 2>/dev/null)\"")
		w("echo \"args $(base64 -w0 <\"$dir/args\" 2>/dev/null)\"")
		w("[ -f \"$dir/output_s3\" ] && echo \"outputs $(base64 -w0 <\"$dir/output_s3\")\"")
	}
	w("pid=$(num pid); runner=none")
	w("[ \"$pid\" -gt 0 ] && { runner=dead; kill -0 \"$pid\" 2>/dev/null && runner=alive; }")
	w("echo \"runner $runner\"")
	w("[ -f \"$dir/interrupted\" ] && echo \"interrupted $(head -c 512 \"$dir/interrupted\" | base64 -w0)\"")
	w("n=$((size - %d)); [ $n -gt %d ] && n=%d; [ $n -lt 0 ] && n=0", offset, max, max)
	w("echo \"chunk %d $n\"", offset)
	w("[ $n -gt 0 ] && tail -c +%d \"$dir/log\" | head -c $n | base64 -w0", offset+1)
	w("echo")
	return b.String()
}

// UploadOutputsCommand returns the shell script that packs the job's
// output directory and PUTs it to a presigned URL. S3 wants a length, so
// the archive is written to a file first.
func UploadOutputsCommand(jobID, url string) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("set -eu")
	w("dir=%s/jobs/%s", home, Quote(jobID))
	w("mkdir -p \"$dir/outputs\"")
	w("tar -czf \"$dir/outputs.tgz\" -C \"$dir/outputs\" .")
	w("curl -fsS --retry 3 --retry-all-errors --connect-timeout 10 -X PUT -T \"$dir/outputs.tgz\" %s", Quote(url))
	w("echo \"uploaded $(stat -c %%s \"$dir/outputs.tgz\")\"")
	return b.String()
}

// Status is a job's state as one poll saw it.
type Status struct {
	JobID       string
	Found       bool
	State       string // "starting", "running", "exited", "interrupted"
	ExitCode    int    // -1 until known
	LogSize     int64
	StartedAt   time.Time
	FinishedAt  time.Time
	Heartbeat   time.Time
	Now         time.Time // the instance's clock
	Interrupted string    // the interruption notice, if one came
	Runner      string    // the job runner's process: "none" yet, "alive" or "dead"
	Script      string    // the script the job runs
	Args        []string  // its arguments
	OutputS3    string    // where its outputs go when it ends, if anywhere
	Offset      int64
	Chunk       []byte
}

// RunnerLost reports a job whose runner process is gone without having
// recorded an exit code: killed, out of memory, or the instance rebooted.
func (s Status) RunnerLost() bool { return s.Found && !s.ExitKnown() && s.Runner == "dead" }

// ExitKnown reports whether the job has ended with an exit code.
func (s Status) ExitKnown() bool { return s.ExitCode >= 0 }

// ParsePoll reads the output of a PollCommand. It fails on anything short
// or malformed, so a truncated answer is never taken for the job's end.
func ParsePoll(out string) (Status, error) {
	st := Status{ExitCode: -1}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 1 && lines[0] == "nojob" {
		return st, nil
	}
	st.Found = true
	want := int64(-1)
	seen := map[string]int{}
	for i := 0; i < len(lines); i++ {
		key, val, _ := strings.Cut(lines[i], " ")
		seen[key]++
		var err error
		switch key {
		case "runner":
			st.Runner = val
		case "script":
			var b []byte
			b, err = base64.StdEncoding.DecodeString(val)
			st.Script = string(b)
		case "args":
			st.Args, err = decodeArgs(val)
		case "outputs":
			var b []byte
			b, err = base64.StdEncoding.DecodeString(val)
			st.OutputS3 = string(b)
		case "job":
			st.JobID = val
		case "status":
			st.State = val
		case "exit":
			if val != "-" {
				st.ExitCode, err = strconv.Atoi(val)
			}
		case "size":
			st.LogSize, err = strconv.ParseInt(val, 10, 64)
		case "times":
			err = parseTimes(val, &st)
		case "interrupted":
			var b []byte
			b, err = base64.StdEncoding.DecodeString(val)
			st.Interrupted = strings.TrimSpace(string(b))
		case "chunk":
			_, err = fmt.Sscanf(val, "%d %d", &st.Offset, &want)
			if err == nil && want > 0 {
				if i+1 >= len(lines) {
					return st, fmt.Errorf("poll output ends before its %d log bytes", want)
				}
				i++
				st.Chunk, err = base64.StdEncoding.DecodeString(lines[i])
			}
		}
		if err != nil {
			return st, fmt.Errorf("reading poll output line %q: %w", key, err)
		}
	}
	for _, key := range []string{"job", "status", "exit", "size", "times", "runner", "chunk"} {
		if seen[key] != 1 {
			return st, fmt.Errorf("poll output has %d %q lines, expected one (cut short?)", seen[key], key)
		}
	}
	switch {
	case want < 0:
		return st, fmt.Errorf("poll output has no chunk line (cut short?)")
	case int64(len(st.Chunk)) != want:
		return st, fmt.Errorf("poll output has %d log bytes, expected %d", len(st.Chunk), want)
	}
	return st, nil
}

// decodeArgs reads the job's args file as the poll sends it: base64 of
// lines that are each an argument in base64.
func decodeArgs(val string) ([]string, error) {
	file, err := base64.StdEncoding.DecodeString(val)
	if err != nil {
		return nil, err
	}
	var args []string
	for _, line := range strings.Split(strings.TrimSuffix(string(file), "\n"), "\n") {
		if line == "" {
			continue
		}
		a, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			return nil, err
		}
		args = append(args, string(a))
	}
	return args, nil
}

// parseTimes reads the job's times, in milliseconds since the epoch.
func parseTimes(val string, st *Status) error {
	var started, finished, beat, now int64
	if _, err := fmt.Sscanf(val, "%d %d %d %d", &started, &finished, &beat, &now); err != nil {
		return err
	}
	unix := func(ms int64) time.Time {
		if ms == 0 {
			return time.Time{}
		}
		return time.UnixMilli(ms)
	}
	st.StartedAt, st.FinishedAt, st.Heartbeat, st.Now = unix(started), unix(finished), unix(beat), unix(now)
	return nil
}
