#!/bin/bash
# tests/nfs/nfs_write_wire.sh — the userspace mounter's WRITE RPCs, which the helper
# encodes itself (drivers/nfs/nfs_wire.c) and sends from the FUSE buffer, against a real
# nfs-ganesha; every check reads back through another path (the export directory on the
# server's disk, or a second helper):
#   - unaligned sizes and offsets (XDR padding), O_SYNC (FILE_SYNC) and plain writes;
#   - a caller with supplementary groups (AUTH_SYS as encoded here) may write a file only
#     its group may write, a caller without the group may not;
#   - idle connections reset by the server are replaced before a WRITE uses them;
#   - connections reset mid-stream (ss -K, the server stays up): the writer learns it from
#     write, fsync or close, never "done"; the mount writes again afterwards;
#   - the server killed mid-stream: the same, and it recovers when the server is back.
set -euo pipefail
. "$(dirname "$0")/../lib/nfs.sh"
nfs_test_setup "$@"
command -v ss >/dev/null || nfs_skip "needs ss (iproute2)"

nfs_two_nodes ww
exp=$NFS_RW_DIR/ww
[ -d "$exp" ] || nfs_fail "no volume directory $exp on the export"

cat >"$T/pattern.py" <<'PY'
import hashlib, os, random, sys
mnt, exp, other = sys.argv[1], sys.argv[2], sys.argv[3]
rng = random.Random(int(sys.argv[4]))
MiB = 1 << 20
for name, flags in (("plain", 0), ("osync", os.O_SYNC)):
    model = bytearray()
    fd = os.open(os.path.join(mnt, name), os.O_RDWR | os.O_CREAT | os.O_TRUNC | flags, 0o644)
    for _ in range(24):
        size = rng.choice([1, 2, 3, 5, 4095, 4097, MiB - 3, MiB, MiB + 1, 2 * MiB + 7])
        off = rng.choice([len(model), rng.randrange(0, 6 * MiB), rng.randrange(0, 9) * MiB + 1])
        data = rng.randbytes(size)
        assert os.pwrite(fd, data, off) == size
        if off > len(model):
            model += bytes(off - len(model))
        model[off:off + size] = data
    os.close(fd)
    want = hashlib.sha256(model).hexdigest()
    for where in (exp, other):
        with open(os.path.join(where, name), "rb") as f:
            got = f.read()
        if len(got) != len(model) or hashlib.sha256(got).hexdigest() != want:
            sys.exit(f"FAIL: {name} ({'O_SYNC' if flags else 'unstable'}): {len(got)} bytes in "
                     f"{where}, {len(model)} written")
print(f"plain and O_SYNC files of {len(model)} bytes each match")
PY
out=$(python3 "$T/pattern.py" "$t1" "$exp" "$t2" "${NFS_WIRE_SEED:-$$}" 2>&1) ||
	nfs_fail "unaligned writes: $out (seed ${NFS_WIRE_SEED:-$$})"
nfs_ok "unaligned writes, read back on the server's disk and through node-2: $out"

# AUTH_SYS groups: a file of uid 4000, group 4005, mode 0660; uid 1000 writes it as a
# member of 4005 (the 12th of 16 groups), then without it.
printf 'old\n' >"$exp/grp"
chown 4000:4005 "$exp/grp"
chmod 0660 "$exp/grp"
groups=4001,4002,4003,4004,4006,4007,4008,4009,4010,4011,4012,4005,4013,4014,4015,4016
nfs_as_user "$groups" dd if=/dev/urandom of="$t1/grp" bs=65537 count=3 conv=notrunc,fsync status=none 2>"$T/grp.err" ||
	nfs_fail "a member of the file's group could not write it: $(cat "$T/grp.err")"
[ "$(stat -c %s "$exp/grp")" = $((3 * 65537)) ] || nfs_fail "the group member's write did not reach the server"
if nfs_as_user 4001,4002 dd if=/dev/zero of="$t1/grp" bs=4096 count=1 conv=notrunc,fsync status=none 2>/dev/null; then
	nfs_fail "a caller outside the file's group wrote it"
fi
[ "$(stat -c %s "$exp/grp")" = $((3 * 65537)) ] && ! cmp -s -n 4096 /dev/zero "$exp/grp" ||
	nfs_fail "the refused write changed the file"
nfs_ok "AUTH_SYS with 16 groups: the group member writes, a non-member is refused"

# Idle connections the server dropped (reset here: ss -K of the server's side) are
# noticed before a WRITE goes out on them: the writes, fsync and close of a file opened
# before all succeed and the data is on the server.
cat >"$T/idle.py" <<'PY'
import os, subprocess, sys
path, want = sys.argv[1], sys.argv[2]
data = open(want, "rb").read()
fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
os.pwrite(fd, b"x", 0)
os.fsync(fd)                                 # every pool connection used at least once
subprocess.run(sys.argv[3:], check=True, stdout=subprocess.DEVNULL)  # the server resets them
os.pwrite(fd, data, 0)
os.fsync(fd)
os.close(fd)
PY
dd if=/dev/urandom of="$T/idle" bs=1M count=3 status=none
out=$(python3 "$T/idle.py" "$t1/idle" "$T/idle" nsenter --net="/proc/$NFS_NS_PID/ns/net" -- \
	ss -K src 127.0.0.1 '( sport = :2049 )' 2>&1) || nfs_fail "writes after the server reset idle connections: $out"
cmp -s "$T/idle" "$exp/idle" || nfs_fail "writes after the server reset idle connections are not on the server"
nfs_ok "idle connections reset by the server: the next writes reconnect and succeed"

# stream WHAT FILE: dd of 1 GiB in the background; interrupt it with WHAT after the
# first MiB reached the server; dd must fail (a write or fsync error), never report done
# with data missing. A reset can land while no WRITE is out (between two writes of dd):
# the helper then replaces the dead connections before sending and nothing is lost, so
# success is accepted for a reset only when the whole GiB is on the server, intact.
stream() {
	local what=$1 f=$2 rc=0 i
	rm -f "$exp/$f"
	dd if=/dev/zero of="$t1/$f" bs=1M count=1024 conv=fsync status=none 2>"$T/dd.err" &
	local dd=$!
	NFS_TEST_PIDS="${NFS_TEST_PIDS:-} $dd"
	for i in $(seq 200); do
		[ "$(stat -c %s "$exp/$f" 2>/dev/null || echo 0)" -gt 1048576 ] && break
		sleep 0.05
	done
	case $what in
	reset) nfs_in_ns ss -K dst 127.0.0.1 '( dport = :2049 )' >/dev/null || nfs_fail "ss -K failed" ;;
	kill) nfs_server_stop || nfs_fail "cannot stop ganesha" ;;
	esac
	wait "$dd" || rc=$?
	if [ "$rc" = 0 ] && [ "$what" = reset ] && [ "$(stat -c %s "$exp/$f")" = 1073741824 ] &&
		cmp -s -n 1073741824 /dev/zero "$exp/$f"; then
		echo "dd exit 0: the reset found no WRITE out; the GiB is on the server, intact"
		return 0
	fi
	[ "$rc" != 0 ] || nfs_fail "$what mid-write: dd of 1 GiB reported success ($(stat -c %s "$exp/$f") bytes on the server)"
	echo "dd exit $rc: $(tr '\n' ' ' <"$T/dd.err")"
}
recovers() { # FILE: 3 MiB through node-1 show up on node-2
	local i
	dd if=/dev/urandom of="$T/after" bs=1M count=3 status=none
	for i in $(seq 40); do
		cp "$T/after" "$t1/$1" 2>/dev/null && cmp -s "$T/after" "$t2/$1" && return 0
		sleep 0.25
	done
	return 1
}

out=$(stream reset big1)
nfs_ok "connections reset mid-write: the writer is told ($out)"
recovers after1 || nfs_fail "the mount did not write again after its connections were reset"
nfs_ok "after the reset: writes through node-1 reach node-2"

out=$(stream kill big2)
nfs_ok "server killed mid-write: the writer is told ($out)"
nfs_server_start || nfs_fail "cannot restart ganesha"
recovers after2 || nfs_fail "the mount did not recover after the server came back"
nfs_ok "server back: writes through node-1 reach node-2"

for n in 1 2; do
	_pv_node $n unpublish ww "$T/targets/n$n" >/dev/null && _pv_node $n unstage ww >/dev/null ||
		nfs_fail "teardown on node-$n"
done
echo PASS
