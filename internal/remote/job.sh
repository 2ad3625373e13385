#!/bin/bash
# runctl job runner: runs one training script detached from the SSM command
# that started it, in the job directory given as $1. The script's exit code
# is written to exit_code, which the client treats as the truth.
set -u
dir=$1
cd "$dir/code" || exit 1
# put writes a file whole, so a poll never reads it half written.
put() { printf '%s\n' "$2" >"$dir/$1.tmp" && mv "$dir/$1.tmp" "$dir/$1"; }

put pid $$
put started_at "$(date +%s%3N)"
put status running

(while :; do put heartbeat "$(date +%s%3N)"; sleep 10; done) &
heartbeat=$!

# finish records the end; the exit code goes last, as the sign that the
# rest is written.
finish() {
	kill "$heartbeat" 2>/dev/null
	wait "$heartbeat" 2>/dev/null
	put finished_at "$(date +%s%3N)"
	if [ -f "$dir/interrupted" ]; then put status interrupted; else put status exited; fi
	put exit_code "$1"
	exit 0
}

script=$(cat "$dir/script")
export PYTHONUNBUFFERED=1
export RUNCTL_JOB_DIR="$dir"
export RUNCTL_OUTPUT_DIR="$dir/outputs"
mkdir -p "$RUNCTL_OUTPUT_DIR"

# Data listed by the client arrives through presigned URLs, one per object.
export RUNCTL_DATA_DIR="$dir/data"
if [ -f "$dir/data.tsv" ]; then
	echo "runctl: fetching $(wc -l <"$dir/data.tsv") data objects into \$RUNCTL_DATA_DIR"
	while IFS=$'\t' read -r rel url; do
		mkdir -p "$(dirname "$RUNCTL_DATA_DIR/$rel")"
		curl -fsS --retry 5 --retry-all-errors --connect-timeout 10 -o "$RUNCTL_DATA_DIR/$rel" "$url" ||
			{ echo "runctl: fetching data object $rel failed"; finish 125; }
	done <"$dir/data.tsv"
fi

if [ -f requirements.txt ]; then
	echo "runctl: installing requirements.txt into a virtual environment"
	python3 -m venv "$dir/venv" || finish 126
	. "$dir/venv/bin/activate"
	if command -v uv >/dev/null 2>&1; then
		uv pip install -r requirements.txt || finish 126
	else
		pip install -q -r requirements.txt || finish 126
	fi
fi

# Each argument arrives base64-encoded on its own line, so any byte but NUL
# reaches the script as it was typed. The dot keeps trailing newlines.
args=()
while IFS= read -r line; do
	arg=$(printf '%s' "$line" | base64 -d; printf .)
	args+=("${arg%.}")
done <"$dir/args"

# The ./ keeps a script named like an option (-m.py) a file name.
case "$script" in
*.py) cmd=(python3 -u "./$script") ;;
*.sh) cmd=(bash "./$script") ;;
*) cmd=("./$script") ;;
esac

# A spot interruption notice reaches this process group as SIGTERM: pass it
# to the script and keep waiting, so its exit code is still recorded.
child=
trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null' TERM
"${cmd[@]}" ${args[@]+"${args[@]}"} </dev/null &
child=$!
while :; do
	wait "$child"
	code=$?
	kill -0 "$child" 2>/dev/null || break
done
finish "$code"
