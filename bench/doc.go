// Package bench measures the work runctl does itself, next to the tools
// people would use instead, on synthetic trees and against the sandbox:
//
//   - packaging: the archive of a tree against `tar czf` of the same files;
//   - memory: the peak resident set of a process shipping a large tree;
//   - change detection: what re-shipping an unchanged tree uploads, and how
//     long the decision takes, against `aws s3 sync` where it is installed;
//   - following: SSM calls per hour while a job is quiet, and the delay
//     from a log line being written to its event while output flows;
//   - launch overhead: the time from the sandbox reporting an instance
//     running with its agent online to CreateInstance returning.
//
// [Run] makes every measurement in one go and returns a [Report] whose
// Markdown table docs/PERFORMANCE.md quotes; bench/run.sh builds the
// programs under bench/cmd and runs it. The benchmarks in the module root's
// bench_test.go call the same functions with smaller sizes.
//
// Everything runs on this machine: the sandbox listens on loopback, the AWS
// clients carry static fake credentials, and trees live in a temporary
// directory removed at the end.
package bench
