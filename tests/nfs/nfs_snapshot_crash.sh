#!/bin/bash
# tests/nfs/nfs_snapshot_crash.sh — a snapshot or restore killed with SIGKILL mid-copy
# leaves nothing that looks finished (no snapshot directory under its name, no record,
# no volume directory), and the next attempt cleans up the leftovers and works. Needs a
# build with -Dfault_injection=true (PVNODE_FAULT); a plain SIGKILL from outside while
# the copy runs is checked in any build.
set -euo pipefail
. "$(dirname "$0")/../lib/nfs.sh"
nfs_test_setup "$@"
"$PVCTL" --version | grep -q "fault injection" || nfs_skip "pvctl built without -Dfault_injection=true"

A=$NFS_RW_DIR/.pvnode-snapshots
V=$NFS_RW_DIR/src
nfs_spec src "" >"$T/specs/src.json"
pv1 create -f "$T/specs/src.json" >/dev/null || nfs_fail "create src"
mkdir -p "$V/d"
for i in $(seq 400); do echo "file $i" >"$V/d/f$i"; done
head -c 20M /dev/urandom >"$V/big"
sums() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
sums "$V" >"$T/sums"

killed() { # POINT ARGS...: pvctl dies by SIGKILL at POINT
	local point=$1 rc=0
	shift
	PVNODE_FAULT=$point nfs_in_ns "$PVCTL" --state-dir "$T/state1" --node-id node-1 --allowed-path "$T" "$@" \
		>/dev/null 2>&1 || rc=$?
	[ $rc = 137 ] || nfs_fail "$point: pvctl $*: exit $rc, wanted 137 (SIGKILL)"
}
unfinished() { # NAME: no snapshot called NAME anywhere, only a ~partial at most
	[ ! -e "$A/$1" ] || nfs_fail "$1 looks finished after a kill: $(ls -la "$A")"
	! pv1 snapshot list | grep -q "^$1 " || nfs_fail "$1 recorded after a kill"
}

for point in nfs-copy-mid nfs-snapshot-before-rename; do
	killed $point snapshot create src s-$point
	unfinished s-$point
	[ -d "$A/s-$point~partial" ] || nfs_fail "$point: no partial copy left to clean (the kill came too late?)"
	pv1 snapshot create src s-$point >/dev/null 2>"$T/err" || nfs_fail "retry after $point: $(cat "$T/err")"
	[ ! -e "$A/s-$point~partial" ] || nfs_fail "retry after $point left the partial copy"
	diff "$T/sums" <(sums "$A/s-$point/data") >/dev/null || nfs_fail "retry after $point: data differs"
	nfs_ok "snapshot killed at $point: nothing finished-looking, the retry cleans up and works"
done

# Killed after the driver finished, before the record (the controller's fault point):
# the finished directory is there, the retry takes it as this snapshot.
killed snapshot-made snapshot create src s-made
[ -d "$A/s-made/data" ] || nfs_fail "snapshot-made: no finished copy"
pv1 snapshot create src s-made >/dev/null 2>"$T/err" || nfs_fail "retry after snapshot-made: $(cat "$T/err")"
pv1 snapshot list src | grep -q '^s-made ' || nfs_fail "s-made not recorded by the retry"
nfs_ok "snapshot killed after the copy, before its record: the retry records it"

# A kill from outside while the copy runs (any build).
head -c 200M /dev/urandom >"$V/big2"
sums "$V" >"$T/sums"
nfs_in_ns "$PVCTL" --state-dir "$T/state1" --node-id node-1 --allowed-path "$T" snapshot create src s-ext \
	>/dev/null 2>&1 &
p=$!
for _ in $(seq 100); do [ -d "$A/s-ext~partial/data" ] && break; sleep 0.05; done
sleep 0.3
kill -KILL $p 2>/dev/null || true
wait $p 2>/dev/null || true
if [ -e "$A/s-ext" ]; then
	echo "note: the copy finished before the kill; not a crash test this time"
else
	unfinished s-ext
fi
pv1 snapshot create src s-ext >/dev/null 2>"$T/err" || nfs_fail "retry after SIGKILL: $(cat "$T/err")"
diff "$T/sums" <(sums "$A/s-ext/data") >/dev/null || nfs_fail "retry after SIGKILL: data differs"
[ -z "$(ls "$A" | grep '~')" ] || nfs_fail "leftovers: $(ls "$A")"
nfs_ok "snapshot killed from outside mid-copy: the retry works"

# A directory swapped for a symlink to a sibling volume while the copy runs (each entry's
# copy made slow): libnfs would follow the link in the middle of the path, the copier
# must notice that what it opened is not what it listed, and read nothing of the sibling.
mkdir -p "$NFS_RW_DIR/other" "$V/a"
for i in $(seq 40); do echo "SECRET $i" >"$NFS_RW_DIR/other/f$i"; echo "mine $i" >"$V/a/f$i"; done
PVNODE_FAULT=nfs-copy-slow nfs_in_ns "$PVCTL" --state-dir "$T/state1" --node-id node-1 --allowed-path "$T" \
	snapshot create src s-swap >"$T/out" 2>"$T/err" &
p=$!
for _ in $(seq 200); do [ -d "$A/s-swap~partial/data/a" ] && break; sleep 0.02; done
mv "$V/a" "$V/a.real" && ln -s ../other "$V/a"
rc=0
wait $p || rc=$?
if grep -rqs SECRET "$A"; then nfs_fail "the copy read the sibling volume through the swapped-in link"; fi
if [ $rc = 0 ]; then
	echo "note: the snapshot finished; it holds no data of the sibling"
else
	grep -q "meets a symbolic link\|not the file its directory lists\|not the directory its parent lists" "$T/err" ||
		nfs_fail "swap refusal does not say why: $(cat "$T/err")"
	unfinished s-swap
	[ ! -e "$A/s-swap~partial" ] || nfs_fail "the refused copy left its partial directory"
fi
rm "$V/a" && mv "$V/a.real" "$V/a"
nfs_ok "a directory swapped for a symlink mid-copy: nothing read through it (exit $rc)"

# The same during a snapshot's delete (each removal made slow): removals go by name to
# the checked directory's handle, so the sibling's files behind the link stay.
nfs_spec small "" >"$T/specs/small.json"
pv1 create -f "$T/specs/small.json" >/dev/null || nfs_fail "create small"
mkdir "$NFS_RW_DIR/small/a"
for i in $(seq 40); do echo "mine $i" >"$NFS_RW_DIR/small/a/f$i"; done
pv1 snapshot create small s-del >/dev/null || nfs_fail "snapshot s-del"
PVNODE_FAULT=nfs-delete-slow nfs_in_ns "$PVCTL" --state-dir "$T/state1" --node-id node-1 --allowed-path "$T" \
	snapshot delete s-del >"$T/out" 2>"$T/err" &
p=$!
sleep 1
D=$A/s-del~partial/data   # a delete moves the snapshot out of sight first, then removes it
mv "$D/a" "$D/a.real" && ln -s ../../../other "$D/a"
rc=0
wait $p || rc=$?
[ "$(ls "$NFS_RW_DIR/other" | wc -l)" = 40 ] || nfs_fail "the delete removed the sibling's files through the link"
[ ! -e "$A/s-del" ] || nfs_fail "a delete that failed half-way left a part of s-del where a restore would copy it"
rm -f "$D/a"
[ ! -e "$D/a.real" ] || mv "$D/a.real" "$D/a"
pv1 snapshot delete s-del >/dev/null 2>"$T/err" || nfs_fail "snapshot delete after the swap: $(cat "$T/err")"
[ ! -e "$A/s-del" ] || nfs_fail "s-del left"
nfs_ok "a directory swapped for a symlink during a delete: the sibling's files stay (exit $rc)"

# Restores.
cat >"$T/specs/r.json" <<JSON
{ "name": "r", "driver": "nfs", "capacity": "1Gi", "accessModes": ["ReadWriteMany"], "gid": 7000,
  "source": { "snapshot": "s-ext" },
  "attributes": { "server": "$NFS_SERVER", "share": "$NFS_RW_SHARE", "mounter": "userspace" } }
JSON
for point in nfs-copy-mid nfs-restore-before-rename; do
	killed $point create -f "$T/specs/r.json"
	[ ! -e "$NFS_RW_DIR/r" ] || nfs_fail "$point: the volume directory exists after a kill"
	! pv1 get r >/dev/null 2>&1 || nfs_fail "$point: the volume is recorded after a kill"
	[ -d "$A/~restore-r" ] || nfs_fail "$point: no partial restore left (the kill came too late?)"
	pv1 create -f "$T/specs/r.json" >/dev/null 2>"$T/err" || nfs_fail "restore retry after $point: $(cat "$T/err")"
	[ ! -e "$A/~restore-r" ] || nfs_fail "restore retry after $point left the partial copy"
	diff "$T/sums" <(sums "$NFS_RW_DIR/r") >/dev/null || nfs_fail "restore retry after $point: data differs"
	[ "$(stat -c '%g %a' "$NFS_RW_DIR/r")" = "7000 2770" ] || nfs_fail "restored root: $(stat -c '%g %a' "$NFS_RW_DIR/r")"
	pv1 delete r >/dev/null || nfs_fail "delete r"
	nfs_ok "restore killed at $point: no volume, the retry cleans up and works"
done
killed restore-made create -f "$T/specs/r.json"
[ -d "$NFS_RW_DIR/r" ] || nfs_fail "restore-made: no volume directory"
pv1 create -f "$T/specs/r.json" >/dev/null 2>"$T/err" || nfs_fail "retry after restore-made: $(cat "$T/err")"
diff "$T/sums" <(sums "$NFS_RW_DIR/r") >/dev/null || nfs_fail "retry after restore-made: data differs"
pv1 delete r >/dev/null || nfs_fail "delete r"
[ ! -e "$A/~made-r" ] || nfs_fail "delete left the restore's note"
mkdir "$NFS_RW_DIR/r"
rc=0
pv1 create -f "$T/specs/r.json" >/dev/null 2>"$T/err" || rc=$?
[ $rc != 0 ] && grep -q "already exists" "$T/err" || nfs_fail "restore over a directory nobody restored: exit $rc $(cat "$T/err")"
nfs_ok "restore killed after the rename, before its record: the retry records it; a foreign directory is refused"
echo PASS
