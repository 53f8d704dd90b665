#!/bin/bash
# csi_sdnotify.sh — systemd's readiness protocol (Type=notify): with NOTIFY_SOCKET set,
# pvnode sends READY=1 once its CSI socket serves (a Probe sent the moment READY=1
# arrives succeeds) and STOPPING=1 when SIGTERM starts the shutdown; a path socket and
# an abstract one ('@'); without NOTIFY_SOCKET nothing is sent and nothing fails.
set -eu
. "${CSI_TEST_LIB:-$(dirname "$0")/../lib/csi.sh}"
csi_require_root
csi_setup
LISTENER=

# listen ADDRESS: a datagram listener (the service manager's side) that logs each message
# to $T/notify.log and, on READY=1, calls Probe at once.
listen() {
	: >"$T/notify.log"
	python3 - "$1" "$T/notify.log" "$CSI_CALL" "$EP" <<'PY' &
import os, socket, subprocess, sys
addr, log, csi_call, ep = sys.argv[1:5]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + addr[1:] if addr.startswith("@") else addr)
with open(log, "a") as out:
    out.write("listening\n"); out.flush()
    while True:
        msg = s.recv(4096).decode()
        out.write("message %s\n" % msg.replace("\n", "|")); out.flush()
        if "READY=1" in msg.split("\n"):
            r = subprocess.run([csi_call, ep, "Probe"], capture_output=True, text=True)
            out.write("probe-at-ready rc=%d %s\n" % (r.returncode, r.stdout.strip())); out.flush()
        if "STOPPING=1" in msg.split("\n"):
            break
PY
	LISTENER=$!
	for _ in $(seq 50); do grep -q listening "$T/notify.log" && return 0; sleep 0.05; done
	csi_fail "the listener did not start"
}
wait_for() { for _ in $(seq 100); do grep -q "$1" "$T/notify.log" && return 0; sleep 0.05; done; return 1; }
stop_listener() { kill "$LISTENER" 2>/dev/null || true; wait "$LISTENER" 2>/dev/null || true; LISTENER=; }
trap 'rc=$?; stop_listener; (exit $rc); csi_cleanup' EXIT

for addr in "$T/notify.sock" "@pvnode-test-notify-$$"; do
	listen "$addr"
	NOTIFY_SOCKET=$addr csi_start
	wait_for "message READY=1" || csi_fail "no READY=1 ($addr): $(cat "$T/notify.log")"
	grep -q "message READY=1|STATUS=serving CSI on unix://$SOCK" "$T/notify.log" ||
		csi_fail "READY message: $(cat "$T/notify.log")"
	wait_for "probe-at-ready" || csi_fail "no Probe at READY"
	grep -q 'probe-at-ready rc=0 .*"value":true' "$T/notify.log" ||
		csi_fail "the socket did not serve when READY=1 came: $(cat "$T/notify.log")"
	grep -c "message READY=1" "$T/notify.log" | grep -qx 1 || csi_fail "READY=1 sent more than once"
	csi_stop TERM
	[ "$STOP_RC" = 0 ] || csi_fail "pvnode exited $STOP_RC"
	wait_for "message STOPPING=1" || csi_fail "no STOPPING=1 ($addr): $(cat "$T/notify.log")"
	stop_listener
	rm -f "$T/notify.sock"
done

# No NOTIFY_SOCKET, or one nobody listens on: pvnode serves all the same.
NOTIFY_SOCKET="$T/nobody.sock" csi_start
grep -q "cannot tell the service manager" "$T/pvnode.log" || csi_fail "a dead NOTIFY_SOCKET is not logged"
expect OK Probe
csi_stop TERM
echo PASS
