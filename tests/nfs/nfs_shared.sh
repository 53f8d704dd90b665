#!/bin/bash
# tests/nfs/nfs_shared.sh — an NFS volume end to end against a real nfs-ganesha:
# provision with a gid (root group + mode 2770 setgid on the export), publish on two
# "nodes" (two state dirs and node ids) at once and see each other's writes (RWX), the
# supplemental-gid guarantee with setpriv (uid 1000 with the group writes, without it
# gets EACCES), idempotent create, and delete / onDelete=retain|archive.
set -euo pipefail
. "$(dirname "$0")/../lib/nfs.sh"
nfs_test_setup "$@"

nfs_spec web 5555 >"$T/specs/web.json"
pv1 create -f "$T/specs/web.json" || nfs_fail "create"
dir="$NFS_RW_DIR/web"
[ -d "$dir" ] || nfs_fail "create made no directory $dir on the export"
[ "$(stat -c %g:%a "$dir")" = "5555:2770" ] || nfs_fail "volume root is $(stat -c %g:%a "$dir"), want 5555:2770"
nfs_ok "create: export dir web with group 5555, mode 2770"

# The same PV again on another node's catalog reuses the directory.
touch "$dir/keep"
pv2 create -f "$T/specs/web.json" || nfs_fail "second create (other node)"
[ -e "$dir/keep" ] || nfs_fail "second create lost the content"
nfs_ok "create is idempotent"

t1="$T/targets/web-n1" t2="$T/targets/web-n2"
pv1 stage web || nfs_fail "stage on node-1"
pv1 stage web || nfs_fail "stage again (idempotent) on node-1"
out=$(pv1 publish -o json web "$t1") || nfs_fail "publish on node-1"
echo "$out" | grep -q 5555 || nfs_fail "publish did not report gid 5555 as a supplemental group: $out"
pv2 stage web || nfs_fail "stage on node-2"
pv2 publish web "$t2" >/dev/null || nfs_fail "publish on node-2"
grep -q " $t1 .*fuse.pvnfs" /proc/self/mountinfo || grep -q " $t1 " /proc/self/mountinfo ||
	nfs_fail "$t1 is not mounted"
nfs_ok "staged and published on two nodes (supplementalGroups 5555)"

echo from-node-1 >"$t1/a"
[ "$(cat "$t2/a")" = from-node-1 ] || nfs_fail "node-2 does not see node-1's write"
echo from-node-2 >"$t2/b"
[ "$(cat "$t1/b")" = from-node-2 ] || nfs_fail "node-1 does not see node-2's write"
[ "$(cat "$dir/a")" = from-node-1 ] || nfs_fail "the export does not hold node-1's write"
echo version-1 >"$t1/c"
[ "$(cat "$t2/c")" = version-1 ] || nfs_fail "node-2 does not see c"
sleep 0.05
echo version-2 >"$t1/c"      # same size: only the mtime tells node-2's cache
[ "$(cat "$t2/c")" = version-2 ] || nfs_fail "node-2 reads its stale cache after node-1 rewrote c"
nfs_ok "RWX: each node sees the other's writes, rewrites included (close-to-open)"

# The supplemental-gid guarantee, through the kernel's own permission checks.
nfs_as_user 5555 sh -c "echo by-uid-1000 >'$t1/u' && cat '$t2/u' >/dev/null" ||
	nfs_fail "uid 1000 with group 5555 cannot write the volume"
[ "$(stat -c %u:%g "$dir/u")" = "1000:5555" ] || nfs_fail "file of uid 1000 is $(stat -c %u:%g "$dir/u"), want 1000:5555"
if err=$(nfs_as_user "" sh -c "echo x >'$t1/v'" 2>&1); then
	nfs_fail "uid 1000 without group 5555 could write"
fi
echo "$err" | grep -q "Permission denied" || nfs_fail "expected EACCES, got: $err"
nfs_as_user "" ls "$t1" >/dev/null 2>&1 && nfs_fail "uid 1000 without group 5555 could list the volume"
nfs_ok "gid guarantee: uid 1000 + group 5555 writes (file 1000:5555); without it EACCES"

# Big sequential write and read back through both nodes.
dd if=/dev/urandom of="$T/blob" bs=1M count=8 status=none
cp "$T/blob" "$t1/blob"
cmp "$T/blob" "$t2/blob" || nfs_fail "8 MiB written on node-1 differs on node-2"
cmp "$T/blob" "$dir/blob" || nfs_fail "8 MiB written differs on the export"
nfs_ok "8 MiB round trip"

# Pipelined writes keep their order: overlapping pwrite()s in one open file, and four
# writers at once, compared with the same writes on a local file.
cat >"$T/overlap.py" <<'PY'
import os, sys, random
random.seed(7)
fds = [os.open(p, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644) for p in sys.argv[1:]]
for i in range(300):
    off = random.randrange(0, 6 << 20)
    data = bytes([i % 251]) * random.choice([1, 4096, 65536, 1 << 20, (1 << 20) + 17])
    for fd in fds:
        os.pwrite(fd, data, off)
for fd in fds:
    os.fsync(fd)
    os.close(fd)
PY
python3 "$T/overlap.py" "$t1/overlap" "$T/overlap.local" || nfs_fail "overlapping writes"
cmp "$T/overlap.local" "$t2/overlap" || nfs_fail "overlapping pipelined writes reordered"
for i in 1 2 3 4; do dd if=/dev/urandom of="$T/p$i" bs=1M count=8 status=none; done
pids=""
for i in 1 2 3 4; do cp "$T/p$i" "$t1/p$i" & pids="$pids $!"; done
for p in $pids; do wait "$p" || nfs_fail "parallel writer (pid $p) failed"; done
for i in 1 2 3 4; do cmp "$T/p$i" "$t2/p$i" || nfs_fail "parallel writer $i corrupted"; done
nfs_ok "overlapping pwrites keep their order; 4 parallel writers intact"

pv1 expand web --capacity 2Gi >/dev/null || nfs_fail "expand"
pv1 get -o json web | grep -q '"capacity": "2Gi"' || nfs_fail "expand did not record 2Gi: $(pv1 get -o json web)"
[ "$(cat "$t1/a")" = from-node-1 ] || nfs_fail "volume broken after expand"
nfs_ok "expand records the new nominal capacity (NFS has nothing to grow)"

pv1 describe web >"$T/describe.txt" || nfs_fail "describe"
grep -qi "nfs" "$T/describe.txt" || nfs_fail "describe shows nothing about NFS"
# usage is the volume directory's, against the PV's (expanded) capacity, not the export's
used=$(du -sk "$dir" | cut -f1)
grep -E "Usage: .* of 2\.0 GiB" "$T/describe.txt" >/dev/null || nfs_fail "usage not against the 2Gi capacity: $(grep Usage "$T/describe.txt")"
shown=$(sed -n 's/.*Usage: *\([0-9.]*\) MiB of.*/\1/p' "$T/describe.txt")
[ -n "$shown" ] && awk -v s="$shown" -v u="$used" 'BEGIN { d = s * 1024 - u; exit !(d < 2048 && d > -2048) }' ||
	nfs_fail "usage '$(grep Usage "$T/describe.txt")' is not the directory's ($used KiB)"
nfs_ok "describe: $(grep Usage "$T/describe.txt" | sed 's/^ *//')"

for n in 1 2; do
	t=$T/targets/web-n$n
	_pv_node $n unpublish web "$t" || nfs_fail "unpublish on node-$n"
	_pv_node $n unstage web || nfs_fail "unstage on node-$n"
	_pv_node $n unstage web || nfs_fail "unstage again (idempotent) on node-$n"
done
grep -q "$T/" /proc/self/mountinfo && nfs_fail "mounts left: $(grep "$T/" /proc/self/mountinfo)"
pgrep -f "pvnode-nfs-fuse .*$T/" >/dev/null && nfs_fail "helper left running"
nfs_ok "unpublish + unstage leave no mount and no helper"

pv2 delete web || nfs_fail "delete on node-2"
pv1 delete web || nfs_fail "delete on node-1 (directory already gone)"
[ -e "$dir" ] && nfs_fail "delete left $dir"
nfs_ok "delete removes the directory, and is idempotent"

nfs_spec kept "" ', "onDelete": "retain"' >"$T/specs/kept.json"
nfs_spec old "" ', "onDelete": "archive"' >"$T/specs/old.json"
pv1 create -f "$T/specs/kept.json" && pv1 create -f "$T/specs/old.json" || nfs_fail "create kept/old"
[ "$(stat -c %a "$NFS_RW_DIR/kept")" = 777 ] || nfs_fail "a volume without gid should be 0777"
touch "$NFS_RW_DIR/old/x"
pv1 delete kept && pv1 delete old || nfs_fail "delete kept/old"
[ -d "$NFS_RW_DIR/kept" ] || nfs_fail "onDelete=retain removed the directory"
ls -d "$NFS_RW_DIR"/archived-old-* >/dev/null 2>&1 || nfs_fail "onDelete=archive left no archived-old-*"
[ -e "$NFS_RW_DIR/old" ] && nfs_fail "onDelete=archive left old/ in place"
nfs_ok "onDelete=retain keeps, archive renames"
echo PASS
