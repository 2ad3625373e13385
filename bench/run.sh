#!/usr/bin/env bash
# Runs runctl's benchmark harness and prints one Markdown table on standard
# output (progress on standard error): packaging against tar czf, memory
# while shipping a 1 GiB tree, change detection, following and launch
# overhead. About seven minutes on two cores; needs Go, bash, tar and gzip,
# and uses the AWS CLI for a comparison when it is installed. Extra
# arguments go to runctlbench (try -h).
#
#   bench/run.sh                      everything, default sizes
#   bench/run.sh -sections pack       one section
set -euo pipefail
cd "$(dirname "$0")/.."

# Nothing here may reach AWS or the instance metadata address: the sandbox
# listens on loopback and every client carries fake static credentials.
export AWS_EC2_METADATA_DISABLED=true
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_DEFAULT_PROFILE || true
export GOFLAGS=-buildvcs=false

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/" ./bench/cmd/runctlbench ./bench/cmd/benchship
"$bin/runctlbench" -ship-bin "$bin/benchship" "$@"
