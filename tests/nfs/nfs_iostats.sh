#!/bin/bash
# tests/nfs/nfs_iostats.sh — the NFS helper's data-path counters (helper.iostats, read
# by pvctl describe): N bytes written through a publish and fsync'd move the written
# bytes by at least N and count writes and flushes (commits); reading them back with
# O_DIRECT moves the read bytes by at least N; no errors; the helper's resident memory
# is shown. A read that fails because the server is down is counted as an error.
set -euo pipefail
. "$(dirname "$0")/../lib/nfs.sh"
nfs_test_setup "$@"

field() {   # field VOLUME WHAT: a number from describe's "Data path:" lines
	pv1 describe "$1" >"$T/desc" 2>&1 || nfs_fail "describe $1: $(cat "$T/desc")"
	case $2 in
	read) sed -n 's/^  Data path:    read [^(]*(\([0-9]*\) B).*/\1/p' "$T/desc" ;;
	written) sed -n 's/^  Data path:    .* written [^(]*(\([0-9]*\) B).*/\1/p' "$T/desc" ;;
	writes) sed -n 's/^  Data path:    .* written [^)]*) in \([0-9]*\) requests.*/\1/p' "$T/desc" ;;
	flushes) sed -n 's/^ *\([0-9]*\) flushes, .*/\1/p' "$T/desc" ;;
	errors) sed -n 's/.* \([0-9]*\) errors$/\1/p' "$T/desc" ;;
	esac
}

nfs_spec data "" >"$T/specs/data.json"
pv1 create -f "$T/specs/data.json" && pv1 stage data && pv1 publish data "$T/targets/data" >/dev/null ||
	nfs_fail "create/stage/publish"
grep -q '^  Helper:       pid [0-9]* (running), [0-9.]* [KM]iB resident' "$T/desc" 2>/dev/null || field data read >/dev/null
grep -q '^  Helper:       pid [0-9]* (running), [0-9.]* [KM]iB resident' "$T/desc" ||
	nfs_fail "describe does not show the helper's memory: $(cat "$T/desc")"
w0=$(field data written) f0=$(field data flushes) n0=$(field data writes)
[ -n "$w0" ] && [ -n "$f0" ] || nfs_fail "describe has no data-path counters: $(cat "$T/desc")"
N=$((16 << 20))
dd if=/dev/urandom of="$T/targets/data/blob" bs=1M count=$((N >> 20)) conv=fsync status=none || nfs_fail "write"
w1=$(field data written) f1=$(field data flushes) n1=$(field data writes)
[ $((w1 - w0)) -ge $N ] || nfs_fail "written moved by $((w1 - w0)), less than $N: $(cat "$T/desc")"
[ "$n1" -gt "$n0" ] && [ "$f1" -gt "$f0" ] || nfs_fail "writes $n0 -> $n1, flushes $f0 -> $f1"
r0=$(field data read)
dd if="$T/targets/data/blob" of=/dev/null bs=1M iflag=direct status=none || nfs_fail "read back"
r1=$(field data read)
[ $((r1 - r0)) -ge $N ] || nfs_fail "read moved by $((r1 - r0)), less than $N: $(cat "$T/desc")"
[ "$(field data errors)" = 0 ] || nfs_fail "errors: $(cat "$T/desc")"
nfs_ok "$N bytes written and read: $(grep -A1 '^  Data path' "$T/desc" | tr -s ' ' | tr '\n' ' ')"
pv1 unpublish data "$T/targets/data" && pv1 unstage data || nfs_fail "teardown"

# an outage: a read the helper cannot serve is an error returned to the kernel (the
# file is opened before, so the failing request is the read itself)
nfs_spec gone "" "" '"mountOptions": ["timeo=20"],' >"$T/specs/gone.json"
pv1 create -f "$T/specs/gone.json" && pv1 stage gone && pv1 publish gone "$T/targets/gone" >/dev/null ||
	nfs_fail "create/stage/publish gone"
dd if=/dev/urandom of="$T/targets/gone/f" bs=1M count=1 conv=fsync status=none || nfs_fail "write gone"
e0=$(field gone errors) r0=$(field gone read)
python3 - "$T/targets/gone/f" "$T/go" >"$T/reader.out" 2>&1 <<'PY' &
import mmap, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 1 << 20)
open(sys.argv[2] + ".ready", "w").close()
while not os.path.exists(sys.argv[2]):
    time.sleep(0.05)
try:
    n = os.preadv(fd, [buf], 0)
    print("read", n)
except OSError as e:
    print("error", e.errno)
PY
reader=$!
for _ in $(seq 100); do [ -e "$T/go.ready" ] && break; sleep 0.05; done
nfs_server_stop || nfs_fail "cannot stop ganesha"
touch "$T/go"
wait $reader || true
nfs_server_start || nfs_fail "cannot restart ganesha"
grep -q '^error' "$T/reader.out" || nfs_fail "the read during the outage did not fail: $(cat "$T/reader.out")"
e1=$(field gone errors) r1=$(field gone read)
[ "$e1" -gt "$e0" ] || nfs_fail "a failed read is not counted as an error ($e0 -> $e1): $(cat "$T/desc")"
nfs_ok "a read that failed in an outage ($(cat "$T/reader.out")) counts as an error ($e0 -> $e1), bytes read $r0 -> $r1"
pv1 unpublish gone "$T/targets/gone" && pv1 unstage gone || nfs_fail "teardown gone"
echo PASS
