#!/bin/bash
# tests/nfs/nfs_snapshot_live.sh — a snapshot of an NFS volume that is staged, mounted
# through the userspace mounter and being written to: the snapshot is taken, everything
# written before it started is in it byte for byte, a file replaced by rename while the
# copy runs is one complete version, and the restored volume mounts and reads back in full.
set -euo pipefail
. "$(dirname "$0")/../lib/nfs.sh"
nfs_test_setup "$@"

nfs_spec src 5555 >"$T/specs/src.json"
pv1 create -f "$T/specs/src.json" >/dev/null || nfs_fail "create src"
pv1 stage src >/dev/null && pv1 publish src "$T/targets/src" >/dev/null || nfs_fail "stage/publish src"
M=$T/targets/src
mkdir "$M/pre" "$M/live"
for i in $(seq 200); do echo "before $i" >"$M/pre/p$i"; done
head -c 8M /dev/urandom >"$M/pre/blob"
sync
(cd "$M" && find pre -type f -print0 | sort -z | xargs -0 sha256sum) >"$T/pre.sums"

# The writer: numbered files with known content (fsync'ed, then logged outside the
# volume), an appended log, and a state file replaced by rename (a new inode each time).
pattern() { yes "line $1" 2>/dev/null | head -c 65536 || true; }
writer() {
	set +e
	local i=0
	while [ ! -e "$T/stop" ]; do
		i=$((i + 1))
		pattern $i >"$M/live/w$i"
		sync "$M/live/w$i" 2>/dev/null || sync
		echo "$i" >>"$T/written"
		echo "entry $i" >>"$M/live/log"
		echo "state $i complete" >"$M/live/state.tmp" && mv "$M/live/state.tmp" "$M/live/state"
	done
}
writer &
wp=$!
NFS_TEST_PIDS="$wp"
for _ in $(seq 300); do [ -s "$T/written" ] && [ "$(wc -l <"$T/written")" -ge 20 ] && break; sleep 0.1; done
[ -s "$T/written" ] || nfs_fail "the writer does not write"
done_before=$(wc -l <"$T/written")
pv1 snapshot create src live1 >"$T/out" 2>"$T/err" || { touch "$T/stop"; nfs_fail "snapshot of a volume in use: $(cat "$T/err")"; }
touch "$T/stop"
wait $wp || true
NFS_TEST_PIDS=
total=$(wc -l <"$T/written")
[ "$total" -gt "$done_before" ] || echo "note: the writer wrote nothing while the snapshot ran"
nfs_ok "snapshot taken while a writer wrote ($done_before files before, $total after)"

cat >"$T/specs/r.json" <<JSON
{ "name": "r", "driver": "nfs", "capacity": "1Gi", "accessModes": ["ReadWriteMany"], "gid": 5555,
  "source": { "snapshot": "live1" },
  "attributes": { "server": "$NFS_SERVER", "share": "$NFS_RW_SHARE", "mounter": "userspace" } }
JSON
pv1 create -f "$T/specs/r.json" >/dev/null 2>"$T/err" || nfs_fail "restore: $(cat "$T/err")"
pv1 stage r >/dev/null && pv1 publish r "$T/targets/r" >/dev/null || nfs_fail "stage/publish r"
R=$T/targets/r
(cd "$R" && sha256sum -c --quiet "$T/pre.sums") || nfs_fail "data written before the snapshot differs"
find "$R" -type f -print0 | xargs -0 cat >/dev/null || nfs_fail "a restored file cannot be read"
for i in $(seq "$done_before"); do
	want=$(pattern $i | sha256sum | cut -d' ' -f1)
	[ "$(sha256sum <"$R/live/w$i" | cut -d' ' -f1)" = "$want" ] || nfs_fail "live/w$i (written before the snapshot) differs"
done
grep -Eqx 'state [0-9]+ complete' "$R/live/state" || nfs_fail "the replaced file is not one whole version: $(cat "$R/live/state")"
nfs_ok "restored: everything written before the snapshot is there, the renamed file is whole, all reads work"
pv1 unpublish r "$T/targets/r" >/dev/null && pv1 unstage r >/dev/null || nfs_fail "unpublish r"
pv1 unpublish src "$T/targets/src" >/dev/null && pv1 unstage src >/dev/null || nfs_fail "unpublish src"
echo PASS
