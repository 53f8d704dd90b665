#!/bin/bash
# csi_socket_activation.sh — pvnode under socket activation (a systemd .socket unit;
# here systemd-socket-activate, which listens, waits for the first connection and execs
# pvnode with the listening socket as fd 3 and LISTEN_PID/LISTEN_FDS set):
#   - the connection that started pvnode is answered (nothing is lost while it starts),
#     and so are calls after it, several at once, a whole file volume lifecycle too;
#   - the helpers and programs pvnode starts do not inherit LISTEN_* (mkfs's
#     environment is read back from a wrapper);
#   - SIGTERM leaves the socket file (it belongs to the service manager);
#   - a passed socket bound to another path than --endpoint, or two sockets, stop the
#     start with a sentence naming both.
# Prints the time from the first connection to its answer.
set -eu
. "${CSI_TEST_LIB:-$(dirname "$0")/../lib/csi.sh}"
csi_require_root
command -v systemd-socket-activate >/dev/null || csi_skip "systemd-socket-activate is not installed (package systemd)"
csi_setup

# pvnode under systemd-socket-activate on $SOCK; its pid (the activator execs it) in ACT_PID
activate() {   # activate LISTEN-PATH [pvnode options]
	local listen=$1
	shift
	systemd-socket-activate -l "$listen" -E PATH="$T/bin:$PATH" -- "$PVNODE" --endpoint "$EP" --node-id node-a --state-dir "$T/state" \
		--allowed-path "$ALLOWED" --selinux off "$@" >>"$T/pvnode.log" 2>&1 &
	ACT_PID=$!
	PVNODE_PID=$ACT_PID   # the cleanup stops it
	for _ in $(seq 100); do [ -S "$listen" ] && return 0; sleep 0.05; done
	csi_fail "systemd-socket-activate did not listen on $listen"
}

# mkfs runs through a wrapper that records the environment pvnode gives what it spawns
mkdir -p "$T/bin"
printf '#!/bin/sh\nenv >%s/mkfs.env\nexec /sbin/mkfs.ext4 "$@"\n' "$T" >"$T/bin/mkfs.ext4"
chmod +x "$T/bin/mkfs.ext4"
activate "$SOCK"
pgrep -f "^$PVNODE " >/dev/null && csi_fail "pvnode started before the first connection"
t0=$(date +%s%N)
expect OK Probe
t1=$(date +%s%N)
echo "first call through the passed socket answered $(( (t1 - t0) / 1000000 )) ms after connecting (pvnode started by it)"
[ "$(cat /proc/$ACT_PID/comm)" = pvnode ] || csi_fail "the activator's pid is not pvnode: $(cat /proc/$ACT_PID/comm)"
grep -q "serving CSI on unix://$SOCK with .* (a socket from the service manager)" "$T/pvnode.log" ||
	csi_fail "the log does not say the socket is the service manager's"

# several calls at once, each on its own connection
pids=()
for i in $(seq 1 8); do "$CSI_CALL" "$EP" GetPluginInfo >"$T/par.$i" 2>&1 & pids+=($!); done
for p in "${pids[@]}"; do wait "$p" || csi_fail "a parallel call failed: $(cat "$T"/par.*)"; done

# a file volume end to end
create_volume sa1 $((32 << 20))
CTX=$(context_args "$OUT")
expect OK NodeStageVolume volume_id=sa1 staging_target_path="$ALLOWED/stg/sa1" $(cap_mount) $CTX
expect OK NodePublishVolume volume_id=sa1 staging_target_path="$ALLOWED/stg/sa1" target_path="$ALLOWED/pods/p/sa1" \
	$(cap_mount) $CTX
echo hello >"$ALLOWED/pods/p/sa1/f" || csi_fail "cannot write the published volume"
expect OK NodeUnpublishVolume volume_id=sa1 target_path="$ALLOWED/pods/p/sa1"
expect OK NodeUnstageVolume volume_id=sa1 staging_target_path="$ALLOWED/stg/sa1"
expect OK DeleteVolume volume_id=sa1

csi_stop TERM
[ "$STOP_RC" = 0 ] || csi_fail "pvnode exited $STOP_RC on SIGTERM"
[ -S "$SOCK" ] || csi_fail "pvnode removed the service manager's socket"
grep -q "socket $SOCK left to the service manager" "$T/pvnode.log" || csi_fail "stop message"
rm -f "$SOCK"

[ -f "$T/mkfs.env" ] || csi_fail "mkfs did not run through the wrapper"
grep -q '^LISTEN_' "$T/mkfs.env" && csi_fail "mkfs inherited LISTEN_*: $(grep LISTEN_ "$T/mkfs.env")"

# a socket on another path than --endpoint: refused, naming both
activate "$T/other.sock"
rc=0
"$CSI_CALL" "unix://$T/other.sock" Probe >/dev/null 2>&1 || rc=$?
wait "$ACT_PID" || rc=$?
PVNODE_PID=
[ "$rc" != 0 ] || csi_fail "pvnode served a socket on another path than --endpoint"
grep -q "passed a socket bound to $T/other.sock, but --endpoint is unix://$SOCK" "$T/pvnode.log" ||
	csi_fail "the refusal does not name both paths: $(tail -3 "$T/pvnode.log")"
[ -e "$SOCK" ] && csi_fail "a refused start made $SOCK"
rm -f "$T/other.sock"

# two sockets: refused
systemd-socket-activate -l "$SOCK" -l "$T/second.sock" -- "$PVNODE" --endpoint "$EP" --node-id node-a \
	--state-dir "$T/state" --allowed-path "$ALLOWED" >>"$T/pvnode.log" 2>&1 &
ACT_PID=$!
PVNODE_PID=$ACT_PID
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
"$CSI_CALL" "$EP" Probe >/dev/null 2>&1 || true
rc=0
wait "$ACT_PID" || rc=$?
PVNODE_PID=
[ "$rc" != 0 ] && grep -q "passed 2 sockets (LISTEN_FDS); pvnode serves CSI on exactly one" "$T/pvnode.log" ||
	csi_fail "two sockets were not refused (rc $rc): $(tail -3 "$T/pvnode.log")"
echo PASS
