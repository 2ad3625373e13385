// Package sandbox is a local cloud that speaks the AWS wire protocols, so
// runctl and its tests can create an instance, train on it and terminate it
// without an AWS account.
//
// One HTTP listener on loopback serves EC2 (query protocol), SSM and Pricing
// (JSON 1.1), STS and IAM (query), S3 (path style, through gofakes3) and an
// IMDSv2 endpoint per instance. The service of a request is read from its
// SigV4 credential scope, from the X-Amz-Credential parameter of a presigned
// URL, or from X-Amz-Target; point every SDK client at [Server.URL] with
// path-style S3, or export [Server.Env].
//
// # Instances
//
// An instance is a directory on this machine. SSM AWS-RunShellScript
// commands run there as local bash processes, with HOME, PATH, RUNCTL_HOME,
// RUNCTL_DETACH=setsid, RUNCTL_IMDS_ENDPOINT(_FILE), RUNCTL_POWEROFF and
// RUNCTL_SANDBOX_INSTANCE set; jobs started with setsid keep running after
// the command and the sandbox process end. Shims first on PATH turn
// shutdown, poweroff, halt, reboot, systemctl and sudo into a touch of the
// instance's poweroff file, which terminates the instance. User data that is
// a script runs once when the instance becomes running. Terminating an
// instance kills every process that carries its RUNCTL_SANDBOX_INSTANCE.
//
// # State
//
// State lives in a directory (see [DefaultDir]) and outlives the process
// that made it: separate processes, each with its own [Server] on its own
// port, can create, use and terminate the same instance. The instance table
// is one JSON file changed under flock; finished command results and S3
// objects are files.
//
// # Faults
//
// [Options.Faults], usually from [ParseFaults] of $RUNCTL_SANDBOX_FAULTS,
// injects spot and on-demand capacity, quota and price errors, throttling,
// slow boot, a late or absent SSM agent and spot interruptions.
//
// # Example
//
//	srv, err := sandbox.Start(ctx, sandbox.Options{Dir: t.TempDir(), Fast: true})
//	if err != nil { ... }
//	defer srv.Close()
//	ec2c := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(srv.URL()) })
package sandbox
