// Package conformance holds the third layer of runctl's tests: the same test
// bodies run, through the real AWS SDK clients, against the sandbox and
// against moto, an independent AWS emulator, so the sandbox stays honest
// about the calls runctl makes.
//
// The package has no code of its own; everything is in its tests.
//
// # Backends
//
// Each body runs once per backend, as the subtests sandbox and moto:
//
//	TestEC2/RunInstancesSpot/sandbox
//	TestEC2/RunInstancesSpot/moto
//
// The sandbox is started fresh for every body on a temporary directory. One
// moto_server serves the whole test binary: the one at $RUNCTL_MOTO_ENDPOINT
// when that is set (as .ci/run does), else one the tests start on a free
// loopback port when moto_server is on PATH and stop when they end. Without
// either, the moto subtests skip and say why. Bodies share that moto, so each
// one names what it creates uniquely and looks only at what it created.
//
// # Differences
//
// Where moto and the sandbox disagree, the one that differs from AWS is
// wrong. A sandbox that is wrong fails its body. Where moto is wrong or lacks
// a call, DIFFERENCES.md in this directory lists the difference (the call,
// what moto does, what AWS does, what the sandbox does) and the body skips
// on moto once it has seen moto do that. If a newer moto stops doing it, the
// body fails, so the list does not outlive the difference. A test keeps the
// list and the skips in step.
//
// # Running
//
//	go test ./internal/conformance/ -v
//
// Nothing here reaches beyond loopback: the clients carry static fake
// credentials, the instance metadata service is off, and the AWS
// configuration files of the person running the tests are not read.
package conformance
