package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/runctl/runctl/sandbox"
)

func (a *app) serveCommand() *cobra.Command {
	var addr, faults, dir string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the local cloud until interrupted, for AWS_ENDPOINT_URL",
		Args:  exactArgs(0, "serve takes no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := sandbox.ParseFaults(faults)
			if err != nil {
				return &usageError{fmt.Sprintf("--faults: %v", err)}
			}
			srv, err := sandbox.Start(cmd.Context(), sandbox.Options{Dir: dir, Addr: addr, Faults: f,
				KillOnClose: true})
			if err != nil {
				return err
			}
			defer srv.Close()
			fmt.Fprintf(a.stdout, "sandbox serving on %s (state in %s)\nuse it with:\n", srv.URL(), srv.Dir())
			for _, kv := range append(srv.Env(), "RUNCTL_BUCKET="+sandbox.DefaultBucket) {
				fmt.Fprintf(a.stdout, "  export %s\n", kv)
			}
			<-cmd.Context().Done()
			fmt.Fprintln(a.stderr, "sandbox: shutting down; terminating its instances")
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:0", "loopback address to listen on")
	cmd.Flags().StringVar(&faults, "faults", os.Getenv(sandbox.EnvFaults), "faults to inject, e.g. spot-capacity,boot-delay=5s")
	cmd.Flags().StringVar(&dir, "dir", sandbox.DefaultDir(), "state directory")
	return cmd
}
