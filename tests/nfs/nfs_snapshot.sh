#!/bin/bash
# tests/nfs/nfs_snapshot.sh — NFS snapshots, restores and clones against ganesha, through
# pvctl: a snapshot keeps the data, owners, modes, setgid, symlinks (as links, never
# followed), hard links, device nodes, fifos, holes and mtimes of the moment it was taken;
# a restore / clone gets exactly that in a new directory with the new PV's gid and 2770,
# the source keeps its newer data; a symlink out of the export is copied as a link and
# its target is never touched (copy and delete); repeats are idempotent, another source
# is refused; snapshot delete leaves restored volumes readable; whole-share volumes and
# subDirs in the snapshot area are refused.
set -euo pipefail
. "$(dirname "$0")/../lib/nfs.sh"
nfs_test_setup "$@"

expect_fail() { # NEEDLE ARGS...
	local needle=$1 rc=0
	shift
	pv1 "$@" >"$T/out" 2>"$T/err" || rc=$?
	[ "$rc" != 0 ] || nfs_fail "$*: succeeded, should have failed"
	grep -qF -- "$needle" "$T/err" || nfs_fail "$*: error does not say '$needle': $(cat "$T/err")"
}
# Everything below a directory except its root: path, type, mode, owner, size (not for
# directories), mtime to the microsecond (not for symlinks: ganesha does not set them),
# link target, device numbers, and a checksum of every regular file.
manifest() {
	(cd "$1" && find . -mindepth 1 -printf '%p %y %M %U %G %s %T@ %l\n' |
		awk '{ if ($2 == "d") $6 = "-"; if ($2 == "l") $7 = "-"; else $7 = substr($7, 1, index($7, ".") + 6); print }' |
		sort
	 find . -mindepth 1 \( -type c -o -type b \) -printf '%p %y ' -exec stat -c '%t:%T' {} \; | sort
	 find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
}

V=$NFS_RW_DIR/src
mkdir -p "$T/outside/keep"
echo precious >"$T/outside/victim"
echo kept >"$T/outside/keep/file"
touch -d '2001-01-01 00:00:00' "$T/outside/victim"
victim_before=$(stat -c '%s %Y %a %u %g' "$T/outside/victim")

nfs_spec src 5555 >"$T/specs/src.json"
pv1 create -f "$T/specs/src.json" >/dev/null || nfs_fail "create src"
# The workload's files: other owners, a setgid directory, setuid, symlinks (relative,
# absolute, dangling, out of the export), hard links, a fifo, a device node, a hole.
mkdir -p "$V/app/data" "$V/shared" "$V/empty"
head -c 5M /dev/urandom >"$V/app/data/blob"
for i in $(seq 300); do echo "row $i" >"$V/app/data/r$i"; done
echo conf >"$V/app/conf"
chown 1000:1000 "$V/app/conf"
chown -R 1001:2000 "$V/app/data"
chgrp 3000 "$V/shared"
chmod 2775 "$V/shared"
echo team >"$V/shared/doc"
chgrp 3000 "$V/shared/doc"
cp /bin/true "$V/app/tool" && chmod 4755 "$V/app/tool"
ln -s conf "$V/app/conf-link"
ln -s /etc/shadow "$V/abs-link"
ln -s nowhere/at/all "$V/dangling"
ln -s "$T/outside/victim" "$V/out-link"
ln -s "$T/outside/keep" "$V/out-dir"
ln "$V/app/conf" "$V/conf-hard"
for i in $(seq 5); do
	echo "multi $i" >"$V/app/m$i"
	for j in $(seq 10); do ln "$V/app/m$i" "$V/shared/m$i-$j"; done
done
mkfifo "$V/fifo"
mkdir "$V/locked" && echo ro >"$V/locked/ro" && echo none >"$V/locked/none"
chmod 0400 "$V/locked/ro" && chmod 0000 "$V/locked/none" && chown 1003:1003 "$V/locked/none" && chmod 0500 "$V/locked"
mknod "$V/null" c 1 3
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$V/sock" 2>/dev/null || true
truncate -s 64M "$V/holes" && printf end | dd of="$V/holes" bs=1 seek=$((32 << 20)) conv=notrunc status=none
touch -d '2020-02-02 02:02:02' "$V/app/conf" "$V/shared"
sync
manifest "$V" >"$T/m1"

# --- snapshot -------------------------------------------------------------------------
pv1 snapshot create src s1 >"$T/out" || nfs_fail "snapshot create: $(cat "$T/out")"
pv1 snapshot list src >"$T/list"
grep -Eq '^s1 +src ' "$T/list" || nfs_fail "snapshot list: $(cat "$T/list")"
pv1 snapshot list -o json | grep -q '"readyToUse": true' || nfs_fail "snapshot not ready: $(pv1 snapshot list -o json)"
S=$NFS_RW_DIR/.pvnode-snapshots/s1
[ -d "$S/data" ] && [ "$(stat -c %a "$NFS_RW_DIR/.pvnode-snapshots")" = 700 ] ||
	nfs_fail "snapshot area: $(ls -la "$NFS_RW_DIR/.pvnode-snapshots")"
diff "$T/m1" <(manifest "$S/data") >"$T/diff" || nfs_fail "the snapshot differs from the volume: $(head "$T/diff")"
[ "$(stat -c '%g %a' "$S/data")" = "5555 2770" ] || nfs_fail "snapshot root: $(stat -c '%g %a' "$S/data")"
nfs_ok "snapshot: data, owners, modes, setgid, setuid, links, devices and mtimes kept"

# The workload goes on: overwrite, delete, add.
echo changed >"$V/app/conf"
rm -f "$V/app/data/r1" "$V/dangling"
head -c 1M /dev/urandom >"$V/app/data/blob"
echo new >"$V/new-file"
chown 1002:1002 "$V/new-file"
sync
manifest "$V" >"$T/m2"
cmp -s "$T/m1" "$T/m2" && nfs_fail "the overwrite changed nothing"

# --- restore ---------------------------------------------------------------------------
cat >"$T/specs/r1.json" <<JSON
{ "name": "r1", "driver": "nfs", "capacity": "1Gi", "accessModes": ["ReadWriteMany"], "gid": 6000,
  "source": { "snapshot": "s1" },
  "attributes": { "server": "$NFS_SERVER", "share": "$NFS_RW_SHARE", "mounter": "userspace" } }
JSON
pv1 create -f "$T/specs/r1.json" >/dev/null 2>"$T/err" || nfs_fail "restore: $(cat "$T/err")"
R=$NFS_RW_DIR/r1
diff "$T/m1" <(manifest "$R") >"$T/diff" || nfs_fail "the restored volume differs from the snapshot: $(head "$T/diff")"
diff "$T/m2" <(manifest "$V") >/dev/null || nfs_fail "the source changed"
[ "$(stat -c '%u %g %a' "$R")" = "0 6000 2770" ] || nfs_fail "restored root: $(stat -c '%u %g %a' "$R")"
[ "$(stat -c %i "$R/app/conf")" = "$(stat -c %i "$R/conf-hard")" ] || nfs_fail "hard link not kept"
for i in $(seq 5); do
	[ "$(stat -c %h "$R/app/m$i")" = 11 ] && [ "$(stat -c %i "$R/app/m$i")" = "$(stat -c %i "$R/shared/m$i-7")" ] ||
		nfs_fail "hard links of m$i: $(stat -c '%i %h' "$R/app/m$i" "$R/shared/m$i-7")"
done
[ "$(stat -c %b "$R/holes")" -lt 1000 ] || nfs_fail "holes filled in: $(stat -c %b "$R/holes") blocks"
[ "$(readlink "$R/out-link")" = "$T/outside/victim" ] && [ -L "$R/out-dir" ] || nfs_fail "outside links not kept as links"
pv1 get r1 -o json | grep -q '"snapshot": "s1"' || nfs_fail "get -o json does not show the source"
nfs_ok "restore: the new volume has the snapshot's data and metadata, its own gid; the source its new data"

# Into a volume on another share of the server (two connections, one per share).
sed -e 's/"name": "r1"/"name": "r2"/' -e "s|\"share\": \"$NFS_RW_SHARE\"|\"share\": \"$NFS_RW2_SHARE\"|" \
	"$T/specs/r1.json" >"$T/specs/r2.json"
pv1 create -f "$T/specs/r2.json" >/dev/null 2>"$T/err" || nfs_fail "restore to another share: $(cat "$T/err")"
diff "$T/m1" <(manifest "$NFS_RW2_DIR/r2") >"$T/diff" || nfs_fail "the restore on another share differs: $(head "$T/diff")"
[ ! -e "$NFS_RW_DIR/r2" ] || nfs_fail "r2 landed on the snapshot's share"
pv1 delete r2 >/dev/null || nfs_fail "delete r2"
nfs_ok "restore into a volume on another share"

# Mounted, through the userspace mounter, a group member reads it.
pv1 stage r1 >/dev/null && pv1 publish r1 "$T/targets/r1" >/dev/null || nfs_fail "stage/publish r1"
[ "$(nfs_as_user 6000 cat "$T/targets/r1/app/data/r5")" = "row 5" ] || nfs_fail "restored data not readable through the mount"
pv1 unpublish r1 "$T/targets/r1" >/dev/null && pv1 unstage r1 >/dev/null || nfs_fail "unpublish/unstage r1"

# --- clone -----------------------------------------------------------------------------
cat >"$T/specs/c1.json" <<JSON
{ "name": "c1", "driver": "nfs", "capacity": "1Gi", "accessModes": ["ReadWriteMany"], "gid": 5555,
  "source": { "volume": "src" },
  "attributes": { "server": "$NFS_SERVER", "share": "$NFS_RW_SHARE", "mounter": "userspace" } }
JSON
pv1 create -f "$T/specs/c1.json" >/dev/null 2>"$T/err" || nfs_fail "clone: $(cat "$T/err")"
diff "$T/m2" <(manifest "$NFS_RW_DIR/c1") >"$T/diff" || nfs_fail "the clone differs from its source: $(head "$T/diff")"
echo after-clone >"$V/after"
[ ! -e "$NFS_RW_DIR/c1/after" ] || nfs_fail "the clone follows its source"
nfs_ok "clone: a copy of the volume as it is now, independent of it"

# Nothing outside the export was read or written through the links.
[ "$(cat "$T/outside/victim")" = precious ] && [ "$(stat -c '%s %Y %a %u %g' "$T/outside/victim")" = "$victim_before" ] ||
	nfs_fail "the victim outside the export was touched"
[ ! -e "$S/data/out-dir/file" ] || [ -L "$S/data/out-dir" ] || nfs_fail "out-dir was followed"
nfs_ok "symlinks out of the export are copied as links, their targets untouched"

# --- idempotency and refusals -----------------------------------------------------------
pv1 snapshot create src s1 >/dev/null || nfs_fail "repeat of snapshot create"
chmod 0777 "$NFS_RW_DIR/.pvnode-snapshots"
pv1 snapshot create src s2 >/dev/null 2>&1 || nfs_fail "snapshot s2"
[ "$(stat -c %a "$NFS_RW_DIR/.pvnode-snapshots")" = 700 ] || nfs_fail "the snapshot area was left open"
pv1 snapshot delete s2 >/dev/null || nfs_fail "snapshot delete s2"
diff "$T/m1" <(manifest "$S/data") >/dev/null || nfs_fail "the repeat changed the snapshot"
nfs_spec other "" >"$T/specs/other.json"
pv1 create -f "$T/specs/other.json" >/dev/null || nfs_fail "create other"
expect_fail "already exists" snapshot create other s1
pv1 create -f "$T/specs/r1.json" >/dev/null 2>&1 || nfs_fail "repeat of the restore"
sed 's/"snapshot": "s1"/"volume": "src"/' "$T/specs/r1.json" >"$T/specs/r1b.json"
expect_fail "exists" create -f "$T/specs/r1b.json"
mkdir "$NFS_RW_DIR/taken"
sed 's/"name": "r1"/"name": "taken"/' "$T/specs/r1.json" >"$T/specs/taken.json"
expect_fail "already exists" create -f "$T/specs/taken.json"
nfs_spec whole "" ', "subDir": ""' >"$T/specs/whole.json"
cat >"$T/specs/whole.json" <<JSON
{ "name": "whole", "driver": "nfs", "capacity": "1Gi", "accessModes": ["ReadWriteMany"],
  "attributes": { "server": "$NFS_SERVER", "share": "$NFS_RW_SHARE", "mounter": "userspace" } }
JSON
pv1 create --existing -f "$T/specs/whole.json" >/dev/null || nfs_fail "register the whole share"
expect_fail "whole share" snapshot create whole s-whole
nfs_spec sneaky "" ', "subDir": ".pvnode-snapshots/s1/data"' >"$T/specs/sneaky.json"
expect_fail "where snapshots live" create --existing -f "$T/specs/sneaky.json"
[ -z "$(ls -A "$NFS_RW_DIR/.pvnode-snapshots" | grep -v '^s1$' | grep -v '^~made-')" ] || nfs_fail "leftovers: $(ls -A "$NFS_RW_DIR/.pvnode-snapshots")"
nfs_ok "repeats are idempotent; another source, an existing directory, a whole share and the snapshot area are refused"

# --- delete -----------------------------------------------------------------------------
pv1 snapshot delete s1 >/dev/null || nfs_fail "snapshot delete"
[ ! -e "$S" ] || nfs_fail "snapshot directory left: $(ls -la "$S")"
[ "$(cat "$T/outside/keep/file")" = kept ] && [ "$(cat "$T/outside/victim")" = precious ] || nfs_fail "delete followed a link"
diff "$T/m1" <(manifest "$R") >/dev/null || nfs_fail "the restored volume changed with the snapshot's delete"
if pv1 snapshot list | grep -q '^s1 '; then nfs_fail "s1 still listed"; fi
pv1 delete r1 >/dev/null && pv1 delete c1 >/dev/null || nfs_fail "delete restored volumes"
nfs_ok "snapshot delete removes its tree (no link followed); restored volumes stay until deleted"
echo PASS
