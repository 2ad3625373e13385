package sandbox

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// killGrace is how long processes get between SIGTERM and SIGKILL;
// killLimit bounds the whole kill of one instance.
const (
	killGrace = 300 * time.Millisecond
	killLimit = 5 * time.Second
)

// instancePIDs returns the live processes that belong to an instance: every
// process whose environment carries RUNCTL_SANDBOX_INSTANCE=<id>. Commands,
// the boot script and whatever they start inherit it, detached or not.
//
// One scan of /proc can miss a process: one in the middle of execve shows
// no environment for a moment, and a child forked after the scan went past
// its slot by a parent that exits before the scan reads it is seen by
// neither. So "none" is only answered after two scans in a row found none
// and met no unreadable process; missing one would let a terminated
// instance's job run on.
func instancePIDs(id string) []int {
	want := []byte("RUNCTL_SANDBOX_INSTANCE=" + id)
	clean := 0
	for try := 0; ; try++ {
		pids, unsure := scanPIDs(want)
		if len(pids) > 0 || try == scanRetries {
			return pids
		}
		if clean++; unsure {
			clean = 0
		}
		if clean == 2 {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
}

// scanRetries bounds the rescans: a process whose environment stays empty
// is not an instance's.
const scanRetries = 50

// scanPIDs reads every process's environment once. unsure reports a live
// user process whose environment could not be read.
func scanPIDs(want []byte) (pids []int, unsure bool) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, false
	}
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		switch {
		case err == nil && len(env) > 0:
			if hasEnv(env, want) && processAlive(pid) {
				pids = append(pids, pid)
			}
		case errors.Is(err, os.ErrPermission):
			// Another user's process: not one the sandbox started.
		default:
			unsure = unsure || (processAlive(pid) && !kernelThread(pid))
		}
	}
	return pids, unsure
}

func hasEnv(env, want []byte) bool {
	return slices.ContainsFunc(bytes.Split(env, []byte{0}), func(kv []byte) bool {
		return bytes.Equal(kv, want)
	})
}

// kernelThread reports whether pid is a kernel thread, which has no
// environment at all.
func kernelThread(pid int) bool {
	const pfKthread = 0x00200000
	fields := statFields(pid)
	if len(fields) < 7 {
		return false
	}
	flags, err := strconv.ParseUint(fields[6], 10, 64)
	return err == nil && flags&pfKthread != 0
}

// statFields returns the fields of /proc/pid/stat after the command name,
// starting with the state.
func statFields(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return nil
	}
	return strings.Fields(string(b[i+2:]))
}

// processAlive reports whether pid exists and is not a zombie: a killed
// detached job that init has not reaped yet counts as gone.
func processAlive(pid int) bool {
	fields := statFields(pid)
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}

// killInstance ends every process of an instance: SIGTERM, a short grace,
// then SIGKILL, rescanning until none is left, so children forked
// meanwhile die too. Only those processes are signalled, each by its own
// pid. When it returns, nothing of the instance runs, unless a process
// outlived killLimit, which is logged.
func (s *Server) killInstance(id string) {
	deadline := time.Now().Add(killLimit)
	for round := 0; ; round++ {
		pids := instancePIDs(id)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			s.log.Warn("sandbox processes survived terminate", "instance_id", id, "pids", pids)
			return
		}
		sig := syscall.SIGTERM
		if round > 0 {
			sig = syscall.SIGKILL
		}
		for _, pid := range pids {
			syscall.Kill(pid, sig)
		}
		waitGone(pids, killGrace)
	}
}

// waitGone polls until all pids are gone or max passes.
func waitGone(pids []int, max time.Duration) {
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) {
		if !slices.ContainsFunc(pids, processAlive) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pidAlive reports whether a process exists, for owners of persisted
// command records.
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return (err == nil || errors.Is(err, syscall.EPERM)) && processAlive(pid)
}

// birthTime returns a directory's creation time where the file system
// records one, else the earlier of its modification and change times.
func birthTime(path string) (time.Time, bool) {
	var sx unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, path, 0, unix.STATX_BTIME|unix.STATX_MTIME, &sx)
	if err != nil {
		return time.Time{}, false
	}
	t := time.Unix(sx.Mtime.Sec, int64(sx.Mtime.Nsec))
	if sx.Mask&unix.STATX_BTIME != 0 && sx.Btime.Sec > 0 {
		if b := time.Unix(sx.Btime.Sec, int64(sx.Btime.Nsec)); b.Before(t) {
			t = b
		}
	}
	return t, true
}
