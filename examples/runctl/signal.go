package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// interruptible returns a context cancelled by the first Ctrl-C (or
// SIGTERM), which makes runctl terminate what it launched. Cleanup waits for
// AWS to confirm; a second Ctrl-C stops waiting and exits at once, after
// saying how to finish the job by hand.
func interruptible(parent context.Context, stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 2)
	// A closed terminal (SIGHUP) must clean up like Ctrl-C, or the instance
	// bills on until its watchdog notices.
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
		case <-done:
			return
		}
		fmt.Fprintln(stderr, "runctl: interrupted; terminating what this command launched "+
			"(Ctrl-C again to stop waiting)")
		cancel()
		select {
		case <-sigs:
		case <-done:
			return
		}
		fmt.Fprintln(stderr, "runctl: stopped waiting; check with 'runctl aws list' and "+
			"'runctl aws terminate ID' that nothing is left running")
		os.Exit(exitCancelled)
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}
