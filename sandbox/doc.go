// Package sandbox is a local cloud that speaks the AWS wire protocols, so
// runctl and its tests can create an instance, train on it and terminate it
// without an AWS account.
//
// One HTTP listener on loopback serves EC2 (query protocol), SSM, Pricing
// and Service Quotas (JSON 1.1), STS and IAM (query), S3 (path style,
// through gofakes3, with the bucket configuration calls added) and an IMDSv2
// endpoint per instance. The service of a request is read from its
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
// # Accounts
//
// Every state directory is one account, 123456789012. Its IAM starts with
// the instance profile and role [DefaultInstanceProfile], which carries
// the SSM managed policy; roles and profiles created through IAM are kept
// in the state file. EC2 refuses a profile for a while after it is created
// or given its role, as AWS does while IAM propagates (fault
// iam-propagation). Service Quotas lists each instance class's on-demand
// and spot vCPU quota, 256 unless a fault says otherwise, and RunInstances
// enforces them against the instances of the directory.
//
// # Faults
//
// [Options.Faults], usually from [ParseFaults] of $RUNCTL_SANDBOX_FAULTS,
// injects spot and on-demand capacity, quota and price errors, lower vCPU
// quotas, throttling, slow boot, a late or absent SSM agent, slow IAM
// propagation and spot interruptions.
//
// # Example
//
//	srv, err := sandbox.Start(ctx, sandbox.Options{Dir: t.TempDir(), Fast: true})
//	if err != nil { ... }
//	defer srv.Close()
//	ec2c := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(srv.URL()) })
package sandbox
