#!/bin/bash
# tests/nfs/nfs_read_wire.sh — the userspace mounter's READ RPCs, which the helper encodes
# itself and whose replies it decodes, receiving the data straight into the FUSE reply
# (drivers/nfs/nfs_wire.c, nfs_pool.c), against a real nfs-ganesha. Every file is written
# on the server's disk (or through the other node) and read through the mount:
#   - sizes around the XDR padding and the 1 MiB request size, short reads at the end of
#     the file, unaligned offsets and lengths (buffered and O_DIRECT: the helper then gets
#     the application's offsets as they are);
#   - close-to-open: a file node-1 read and cached, rewritten (shorter, then longer) by
#     node-2, is read whole and new by the next open on node-1;
#   - idle connections reset by the server are replaced before a READ uses them;
#   - connections reset mid-read, and the server killed mid-read: the reader gets an error
#     or correct data, never wrong data; the mount reads again afterwards (after the
#     kill: once the server is back).
set -euo pipefail
. "$(dirname "$0")/../lib/nfs.sh"
nfs_test_setup "$@"
command -v ss >/dev/null || nfs_skip "needs ss (iproute2)"

nfs_two_nodes rw
exp=$NFS_RW_DIR/rw
[ -d "$exp" ] || nfs_fail "no volume directory $exp on the export"
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

cat >"$T/sizes.py" <<'PY'
import mmap, os, random, sys
mnt, exp = sys.argv[1], sys.argv[2]
rng = random.Random(int(sys.argv[3]))
MiB = 1 << 20
sizes = [0, 1, 2, 3, 4, 5, 4095, 4096, 4097, MiB - 1, MiB, MiB + 1, 3 * MiB + 4093]
for s in sizes:
    with open(os.path.join(exp, f"s{s}"), "wb") as f:
        f.write(rng.randbytes(s))
os.system("sync; echo 3 > /proc/sys/vm/drop_caches")
for s in sizes:                                  # whole files, cold: the last READ is short
    want = open(os.path.join(exp, f"s{s}"), "rb").read()
    got = open(os.path.join(mnt, f"s{s}"), "rb").read()
    if got != want:
        sys.exit(f"FAIL: a file of {s} bytes read as {len(got)} bytes, "
                 f"{'equal' if got == want[:len(got)] else 'different'} content")
big = open(os.path.join(exp, f"s{sizes[-1]}"), "rb").read()
name = os.path.join(mnt, f"s{sizes[-1]}")
fd = os.open(name, os.O_RDONLY)                  # buffered, unaligned, past the end too
for _ in range(200):
    off = rng.randrange(0, len(big) + 8192)
    n = rng.choice([1, 3, 4095, 4097, MiB - 1, MiB + 3, rng.randrange(1, 3 * MiB)])
    got = os.pread(fd, n, off)
    if got != big[off:off + n]:
        sys.exit(f"FAIL: pread({n}, {off}): {len(got)} bytes, not the file's")
os.close(fd)
direct = 0
try:                                             # O_DIRECT: the READs carry these offsets
    fd = os.open(name, os.O_RDONLY | os.O_DIRECT)
except OSError:
    fd = -1
if fd >= 0:
    buf = mmap.mmap(-1, 4 * MiB)
    for _ in range(100):
        off = rng.randrange(0, len(big) + 8192)
        n = rng.choice([1, 3, 4097, MiB - 1, MiB, MiB + 5, rng.randrange(1, 3 * MiB)])
        try:
            k = os.preadv(fd, [memoryview(buf)[:n]], off)
        except OSError as e:
            sys.exit(f"FAIL: O_DIRECT preadv({n}, {off}): {e}")
        if buf[:k] != big[off:off + n]:
            sys.exit(f"FAIL: O_DIRECT preadv({n}, {off}): {k} bytes, not the file's")
        direct += 1
    os.close(fd)
print(f"{len(sizes)} sizes, 200 buffered and {direct} O_DIRECT unaligned reads match")
PY
out=$(python3 "$T/sizes.py" "$t1" "$exp" "${NFS_WIRE_SEED:-$$}" 2>&1) ||
	nfs_fail "reads: $out (seed ${NFS_WIRE_SEED:-$$})"
nfs_ok "reads of every size and offset: $out"

# The fallbacks of the splice path (fault-injection builds): no pipe at all (reads into
# memory), and a pipe too small for a READ (it turns into memory half way). Node-3 gets
# a helper of each kind in turn.
if "$PVCTL" --version | grep -q "fault injection"; then
	pv3() { _pv_node 3 "$@"; }
	pv3 create -f "$T/specs/rw.json" >/dev/null || nfs_fail "create on node-3"
	for fault in nfs-read-copy nfs-read-smallpipe; do
		PVNODE_FAULT=$fault pv3 stage rw >/dev/null && pv3 publish rw "$T/targets/n3" >/dev/null ||
			nfs_fail "stage/publish on node-3 ($fault)"
		out=$(python3 "$T/sizes.py" "$T/targets/n3" "$exp" "${NFS_WIRE_SEED:-$$}" 2>&1) ||
			nfs_fail "reads with $fault: $out (seed ${NFS_WIRE_SEED:-$$})"
		pv3 unpublish rw "$T/targets/n3" >/dev/null && pv3 unstage rw >/dev/null || nfs_fail "teardown on node-3"
		nfs_ok "reads with $fault: $out"
	done
fi

# Close-to-open: node-1 reads (and caches) a file; node-2 rewrites it shorter, then
# longer; each next open on node-1 reads exactly what node-2 closed.
for v in 1 2 3; do
	case $v in
	1) n=3000000 ;; 2) n=1000001 ;; 3) n=5000003 ;;
	esac
	head -c "$n" /dev/urandom >"$T/c2o"
	if [ "$v" = 1 ]; then cp "$T/c2o" "$exp/c2o"; else cp "$T/c2o" "$t2/c2o"; fi
	cmp -s "$T/c2o" "$t1/c2o" || nfs_fail "close-to-open: version $v ($n bytes) written by node-2 read wrong on node-1"
done
nfs_ok "close-to-open: node-1 reads each version node-2 closed (shorter and longer)"

# A file of random data (a read at a wrong offset shows) for the outage cases.
head -c $((384 << 20)) /dev/urandom >"$exp/big"
sync

# Idle connections the server reset are replaced before a READ goes out on them.
cat "$t1/s1" >/dev/null
drop_caches
nfs_in_ns ss -K src 127.0.0.1 '( sport = :2049 )' >/dev/null || nfs_fail "ss -K failed"
cmp -s "$exp/big" "$t1/big" || nfs_fail "reads after the server reset idle connections"
nfs_ok "idle connections reset by the server: the next reads reconnect and succeed"

# interrupted WHAT: dd of big in the background, interrupted with WHAT once it read the
# first MiBs; whatever dd read must be the file's data; a reset may find no READ out
# (then dd succeeds and its copy must be whole).
interrupted() {
	local what=$1 rc=0 i
	drop_caches
	rm -f "$T/out"
	dd if="$t1/big" of="$T/out" bs=1M status=none 2>"$T/dd.err" &
	local dd=$!
	NFS_TEST_PIDS="${NFS_TEST_PIDS:-} $dd"
	for i in $(seq 200); do
		[ "$(stat -c %s "$T/out" 2>/dev/null || echo 0)" -ge $((2 << 20)) ] && break
		sleep 0.02
	done
	case $what in
	reset) nfs_in_ns ss -K dst 127.0.0.1 '( dport = :2049 )' >/dev/null || nfs_fail "ss -K failed" ;;
	kill) nfs_server_stop || nfs_fail "cannot stop ganesha" ;;
	esac
	wait "$dd" || rc=$?
	local got
	got=$(stat -c %s "$T/out")
	cmp -s -n "$got" "$T/out" "$exp/big" || nfs_fail "$what mid-read: dd read wrong data ($got bytes, rc $rc)"
	if [ "$rc" = 0 ]; then
		[ "$got" = $((384 << 20)) ] || nfs_fail "$what mid-read: dd succeeded with $got bytes of $((384 << 20))"
		[ "$what" = reset ] || nfs_fail "server killed mid-read: dd reported success"
		echo "dd exit 0: the reset found no READ out; the copy is whole"
		return 0
	fi
	echo "dd exit $rc after $got correct bytes: $(tr '\n' ' ' <"$T/dd.err")"
}
recovers() {
	local i
	for i in $(seq 40); do
		drop_caches
		cmp -s "$exp/big" "$t1/big" 2>/dev/null && return 0
		sleep 0.25
	done
	return 1
}

out=$(interrupted reset)
nfs_ok "connections reset mid-read: no wrong data ($out)"
recovers || nfs_fail "the mount did not read again after its connections were reset"
nfs_ok "after the reset: the whole file reads back"

out=$(interrupted kill)
nfs_ok "server killed mid-read: the reader is told ($out)"
if cat "$t1/s4097" >/dev/null 2>&1 && ! cmp -s "$exp/s4097" "$t1/s4097"; then
	nfs_fail "server down: a read returned wrong data"
fi
nfs_server_start || nfs_fail "cannot restart ganesha"
recovers || nfs_fail "the mount did not read again after the server came back"
nfs_ok "server back: the whole file reads back"

for n in 1 2; do
	_pv_node $n unpublish rw "$T/targets/n$n" >/dev/null && _pv_node $n unstage rw >/dev/null ||
		nfs_fail "teardown on node-$n"
done
echo PASS
