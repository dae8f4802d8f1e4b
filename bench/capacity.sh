#!/usr/bin/env bash
# capacity.sh runs amdd and `amdctl load` on this machine at rising
# concurrency and appends one JSON line per run to OUT (default
# bench/capacity/runs.jsonl): {"load1", "note", "result": <amdctl load --json>}.
# Each run gets a fresh amdd so its RSS baseline and counters are its own.
#
#   bench/capacity.sh pcmu 100 250 500 1000
#   bench/capacity.sh opus 50 100 200
#   go run ./bench/plot -out bench/capacity bench/capacity/runs.jsonl
#
# Environment: AUDIO (clip dir, default fixtures/corpus), HOLD (silence kept
# after each clip, default 5s), CALLS_PER_SLOT (calls = concurrency × this,
# default 2), PPROF=1 (profile amdd's CPU for 20 s mid-run into
# PROF_DIR/cpu-<codec>-<c>.pprof, and its heap at the start of that window
# into heap-<codec>-<c>.pprof; PROF_DIR defaults to $TMPDIR or /tmp, so
# profiles never land in the tree), NOTE (free text recorded with each line).
# amdd's log goes to $TMPDIR/amdd-capacity.log.
set -euo pipefail
cd "$(dirname "$0")/.."
codec=${1:?usage: capacity.sh pcmu|pcma|opus CONCURRENCY...}
shift
out=${OUT:-bench/capacity/runs.jsonl}
out_dir=$(dirname "$out")
audio=${AUDIO:-fixtures/corpus}
hold=${HOLD:-5s}
per=${CALLS_PER_SLOT:-2}
mkdir -p "$out_dir"
prof_dir=${PROF_DIR:-${TMPDIR:-/tmp}}
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/amdd" ./cmd/amdd
go build -o "$bin/amdctl" ./cmd/amdctl

for c in "$@"; do
	calls=$((c * per))
	# Dial at a rate that reaches full concurrency in about 10 s instead of
	# sending every INVITE in one burst.
	cps=$(( (c + 9) / 10 ))
	"$bin/amdd" --sip-listen 127.0.0.1:25060 --control-listen 127.0.0.1:28081 \
		--rtp-ports 20000-29999 --max-calls $((c + 50)) --media-timeout 10s \
		--pprof-listen 127.0.0.1:26060 --log-level error >"${TMPDIR:-/tmp}/amdd-capacity.log" 2>&1 &
	amdd=$!
	for _ in $(seq 50); do curl -fs http://127.0.0.1:28081/healthz >/dev/null && break; sleep 0.1; done
	if [ "${PPROF:-}" = 1 ]; then
		# Profile the middle of the run: after the ramp, while every slot is busy.
		( sleep 15; curl -fs -o "$prof_dir/heap-$codec-$c.pprof" "http://127.0.0.1:26060/debug/pprof/heap"
		  curl -fs -o "$prof_dir/cpu-$codec-$c.pprof" "http://127.0.0.1:26060/debug/pprof/profile?seconds=20" ) &
		prof=$!
	fi
	load1=$(cut -d' ' -f1 /proc/loadavg)
	set +e
	res=$("$bin/amdctl" load --engine ws://127.0.0.1:28081/v1/control --engine-pid "$amdd" \
		--calls "$calls" --concurrency "$c" --cps "$cps" --audio "$audio" --codec "$codec" \
		--sip-listen 127.0.0.1:25070 --hold "$hold" --max-duration 10m --json)
	rc=$?
	set -e
	[ -n "${prof:-}" ] && wait "$prof" || true
	kill -TERM "$amdd"; wait "$amdd" || true
	if [ -z "$res" ]; then
		echo "concurrency $c: amdctl load failed (exit $rc)" >&2
		continue
	fi
	printf '{"load1":%s,"note":"%s","result":%s}\n' "$load1" "${NOTE:-}" "$res" >>"$out"
	echo "$codec c=$c load1=$load1 exit=$rc: $res" | cut -c1-400
done
