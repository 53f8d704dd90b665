#!/bin/bash
# csi_socket_activation.sh — pvnode under socket activation (a systemd .socket unit;
# here systemd-socket-activate, which listens, waits for the first connection and execs
# pvnode with the listening socket as fd 3 and LISTEN_PID/LISTEN_FDS set):
#   - the connection that started pvnode is answered (nothing is lost while it starts),
#     and so are calls after it, several at once, a whole file volume lifecycle too;
#   - the helpers and programs pvnode starts do not inherit LISTEN_* (mkfs's
#     environment is read back from a wrapper);
#   - SIGTERM leaves the socket file (it belongs to the service manager), and a call
#     made while no pvnode runs waits in the held socket and is answered by the next
#     pvnode (a small service manager in Python holds the socket across the restart);
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

# What systemd gives and systemd-socket-activate cannot show: the socket outlives a
# pvnode. A small service manager holds it, runs pvnode, stops it, and while no pvnode
# runs a client connects and calls; a second pvnode on the same socket answers it.
python3 - "$SOCK" "$PVNODE" "$CSI_CALL" "$T" "$ALLOWED" <<'PY' >"$T/manager.out" 2>&1 || csi_fail "held socket: $(cat "$T/manager.out")"
import os, signal, socket, subprocess, sys, time
path, pvnode, csi_call, t, allowed = sys.argv[1:6]
ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
ls.bind(path); ls.listen(16)
def start():
    pid = os.fork()
    if pid == 0:
        os.dup2(ls.fileno(), 3)
        os.set_inheritable(3, True)
        os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS="1")
        log = os.open(t + "/pvnode.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.dup2(log, 1); os.dup2(log, 2)
        os.execv(pvnode, [pvnode, "--endpoint", "unix://" + path, "--node-id", "node-a", "--state-dir", t + "/state",
                          "--allowed-path", allowed, "--selinux", "off"])
    return pid
def probe(timeout):
    return subprocess.run([csi_call, "unix://" + path, "Probe"], capture_output=True, text=True, timeout=timeout)
first = start()
for _ in range(200):
    if probe(10).returncode == 0: break
    time.sleep(0.05)
else: sys.exit("the first pvnode did not answer")
os.kill(first, signal.SIGTERM); os.waitpid(first, 0)
assert os.path.exists(path), "the socket went with the first pvnode"
client = subprocess.Popen([csi_call, "unix://" + path, "Probe"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
time.sleep(0.5)   # the client is connected and waiting: nobody accepts yet
assert client.poll() is None, "the call ended with no pvnode running: %s" % (client.communicate(),)
t0 = time.monotonic()
second = start()
out, err = client.communicate(timeout=30)
print("call made while no pvnode ran: answered %.0f ms after the second pvnode started (rc %d)"
      % ((time.monotonic() - t0) * 1e3, client.returncode))
os.kill(second, signal.SIGTERM); os.waitpid(second, 0)
sys.exit(0 if client.returncode == 0 and '"value":true' in out else "the waiting call failed: %s %s" % (out, err))
PY
cat "$T/manager.out"
rm -f "$SOCK"

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
