#!/usr/bin/env bash
# run-stack.sh — what `make run` executes after building bin/amdd, bin/amdgw
# and bin/amdctl: the whole product on loopback with dev secrets.
#
#   amdctl sink    127.0.0.1:9090   receives and verifies the notifications (printed here)
#   amdctl callee  127.0.0.1:5070   the SIP test phone, playing a fixture greeting
#   amdd           127.0.0.1:5060 (SIP), 127.0.0.1:8081 (control, /metrics)
#   amdgw          127.0.0.1:8080   dialout API, /interactions, /metrics
#
# It prints a copy-paste curl that dials the test phone; Ctrl-C stops everything.
# Override with env: AUDIO (the callee's greeting), RUN_DIR (logs and the db),
# AMD_JWT_SECRET, AMD_SIGNING_SECRET, and the addresses SINK, CALLEE, AMDD_SIP,
# AMDD_CTL, GW.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
RUN_DIR=${RUN_DIR:-run}
AUDIO=${AUDIO:-fixtures/corpus/machine/vm_beep_001.wav}
export AMD_JWT_SECRET=${AMD_JWT_SECRET:-dev-jwt-secret}
export AMD_SIGNING_SECRET=${AMD_SIGNING_SECRET:-dev-signing-secret}

# Addresses (overridable, which is how the stack's own test runs it on free ports).
SINK=${SINK:-127.0.0.1:9090}
CALLEE=${CALLEE:-127.0.0.1:5070}
AMDD_SIP=${AMDD_SIP:-127.0.0.1:5060}
AMDD_CTL=${AMDD_CTL:-127.0.0.1:8081}
GW=${GW:-127.0.0.1:8080}

for b in amdd amdgw amdctl; do
	[[ -x $BIN/$b ]] || { echo "run-stack: $BIN/$b missing; run 'make build' (make run does)" >&2; exit 1; }
done
[[ -f $AUDIO ]] || { echo "run-stack: greeting $AUDIO missing (set AUDIO=...)" >&2; exit 1; }

# Refuse to start on a busy port rather than talk to someone else's process.
busy() { (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null; }
for a in $SINK $AMDD_CTL $GW; do
	if busy "$a"; then echo "run-stack: $a is already in use" >&2; exit 1; fi
done

mkdir -p "$RUN_DIR"
pids=()
cleanup() {
	trap - INT TERM EXIT
	echo
	echo "run-stack: stopping"
	# Our own children only, newest first, by pid.
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
	for p in "${pids[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap cleanup EXIT

# wait_http URL NAME: poll until URL answers 2xx, or fail with the log.
wait_http() {
	for _ in $(seq 100); do
		if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "run-stack: $2 did not come up; its log:" >&2
	tail -n 30 "$RUN_DIR/$2.log" >&2 || true
	exit 1
}
wait_udp_proc() { # PID NAME: give a UDP-only service a moment, fail if it died
	sleep 0.5
	kill -0 "$1" 2>/dev/null || { echo "run-stack: $2 exited; its log:" >&2; tail -n 30 "$RUN_DIR/$2.log" >&2; exit 1; }
}

echo "run-stack: logs in $RUN_DIR/"
"$BIN/amdctl" sink --listen "$SINK" --signing-secret "$AMD_SIGNING_SECRET" 2>"$RUN_DIR/sink.log" &
pids+=($!)

"$BIN/amdctl" callee --listen "$CALLEE" --audio "$AUDIO" >"$RUN_DIR/callee.log" 2>&1 &
pids+=($!)
wait_udp_proc "${pids[-1]}" callee

"$BIN/amdd" --sip-listen "$AMDD_SIP" --control-listen "$AMDD_CTL" --trunk "local=sip:$CALLEE" \
	--log-format console >"$RUN_DIR/amdd.log" 2>&1 &
pids+=($!)
wait_http "http://$AMDD_CTL/healthz" amdd

"$BIN/amdgw" --listen "$GW" --engine "ws://$AMDD_CTL/v1/control" --db "$RUN_DIR/amdgw.db" >"$RUN_DIR/amdgw.log" 2>&1 &
pids+=($!)
wait_http "http://$GW/healthz" amdgw

TOKEN=$("$BIN/amdctl" token --secret "$AMD_JWT_SECRET" --ttl 12h --app-id make-run)

cat <<EOF

The stack is up.
  test phone  sip:$CALLEE  playing $AUDIO
  amdd        sip $AMDD_SIP, control ws://$AMDD_CTL/v1/control, metrics http://$AMDD_CTL/metrics
  amdgw       http://$GW  (API docs http://$GW/openapi.yaml, metrics http://$GW/metrics)
  sink        http://$SINK/notify  (notifications are printed below, signatures checked)

Dial the test phone:

curl -sS -X POST http://$GW/api/1.1/public/bot/demo-bot/smartassist/dialout \\
  -H 'Content-Type: application/json' -H "auth: $TOKEN" \\
  -d '{"target":"sip:amd@$CALLEE;bye=end","caller":"+15550001","notifyurl":"http://$SINK/notify","machineDetection":"detect","notifyHeaders":{"X-Demo":"make-run"}}'

(The phone answers and plays the greeting, then hangs up at its end. Other stories:
 target "sip:reject-486@$CALLEE" → Failed "486 Busy Here"; "machineDetection":"disconnect" → amdd
 hangs up on the machine and the interaction shows machineDetected.)

Interactions: http://$GW/interactions?token=$TOKEN
Ctrl-C stops everything.

--- notifications (amdctl sink) ---
EOF

# The sink's stdout is this terminal; wait for any child to exit (or Ctrl-C).
wait -n "${pids[@]}" || true
echo "run-stack: a component exited; see $RUN_DIR/*.log" >&2
