// Command embed is the smallest complete program that embeds runctl: it
// starts a private sandbox, creates a spot instance in it, trains the
// example script for a few epochs, terminates the instance and prints every
// event the library reports, one line each, with its Go type.
//
//	go run ./examples/embed
//	go run ./examples/embed -epochs 5 -code-dir path/to/code -script train.py
//
// It needs no AWS account: everything happens on this machine.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
