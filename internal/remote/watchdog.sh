#!/bin/bash
# runctl watchdog: runs on the instance from boot. It ends the instance when
# its maximum lifetime passes or when the client that asked to be watched
# has gone silent, and passes a spot interruption notice on to running jobs
# as SIGTERM so they can save a checkpoint.
set -u
home=${RUNCTL_HOME:-/opt/runctl}
interval=${RUNCTL_WATCHDOG_INTERVAL:-5}
max_lifetime=${RUNCTL_MAX_LIFETIME:-0}
start=$(date +%s)

log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $*"; }

end_instance() {
	log "ending the instance: $1"
	echo "$1" >"$home/ended-by-watchdog"
	${RUNCTL_POWEROFF:-shutdown -h now}
	exit 0
}

# imds_base prefers the endpoint file, which the sandbox rewrites when its
# server moves, over the environment, over the real metadata address.
imds_base() {
	local f=${RUNCTL_IMDS_ENDPOINT_FILE:-}
	if [ -n "$f" ] && [ -s "$f" ]; then
		cat "$f"
	else
		echo "${RUNCTL_IMDS_ENDPOINT:-http://169.254.169.254}"
	fi
}

# interruption prints the spot interruption notice, if there is one.
interruption() {
	local base token
	base=$(imds_base)
	token=$(curl -fsS --max-time 2 -X PUT "$base/latest/api/token" \
		-H 'X-aws-ec2-metadata-token-ttl-seconds: 300' 2>/dev/null) || return 1
	curl -fsS --max-time 2 -H "X-aws-ec2-metadata-token: $token" \
		"$base/latest/meta-data/spot/instance-action" 2>/dev/null
}

# signal_jobs tells every running job about the notice, once.
signal_jobs() {
	local dir pid
	for dir in "$home"/jobs/*/; do
		dir=${dir%/}
		[ -L "$dir" ] && continue
		[ -f "$dir/pid" ] && [ ! -f "$dir/exit_code" ] && [ ! -f "$dir/interrupted" ] || continue
		printf '%s\n' "$1" >"$dir/interrupted"
		pid=$(cat "$dir/pid")
		log "spot interruption notice: sending SIGTERM to job $(basename "$dir") (pid $pid)"
		kill -TERM "$pid" 2>/dev/null
	done
}

while sleep "$interval"; do
	now=$(date +%s)
	if [ "$max_lifetime" -gt 0 ] && [ $((now - start)) -ge "$max_lifetime" ]; then
		end_instance "maximum lifetime of ${max_lifetime}s reached"
	fi
	if [ -f "$home/client-timeout" ] && [ -f "$home/client-heartbeat" ]; then
		limit=$(cat "$home/client-timeout")
		age=$((now - $(stat -c %Y "$home/client-heartbeat")))
		if [ "$age" -gt "$limit" ]; then
			end_instance "client silent for ${age}s (limit ${limit}s)"
		fi
	fi
	if notice=$(interruption) && [ -n "$notice" ]; then
		signal_jobs "$notice"
	fi
done
