// Command runctl runs a training script on an AWS EC2 instance: it creates
// the instance, ships the code, runs the script, streams its output, reports
// the result and the cost, and terminates the instance. With --sandbox it
// does all of that against a local cloud, with no AWS account.
package main

import (
	"context"
	"os"
)

func main() {
	ctx, stop := interruptible(context.Background(), os.Stderr)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
