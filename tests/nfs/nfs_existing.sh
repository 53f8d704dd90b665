#!/bin/bash
# tests/nfs/nfs_existing.sh — create --existing against ganesha: a share and a subDir
# that exist are registered (Retain) without anything changed on the server; a missing
# subDir or a symlink is refused and nothing is created; a read-only export registers
# and mounts read-only (EROFS); delete of a Retain PV keeps the files byte for byte.
set -euo pipefail
. "$(dirname "$0")/../lib/nfs.sh"
nfs_test_setup "$@"

expect_fail() { # WANT_RC NEEDLE ARGS...
	local want=$1 needle=$2 rc=0
	shift 2
	pv1 "$@" >"$T/out" 2>"$T/err" || rc=$?
	[ "$rc" = "$want" ] || nfs_fail "$*: exit $rc, wanted $want: $(cat "$T/err")"
	grep -qF -- "$needle" "$T/err" || nfs_fail "$*: error does not say '$needle': $(cat "$T/err")"
}

# Data already on the exports, with modes and owners that must stay as they are.
mkdir -p "$NFS_RW_DIR/team/web" "$NFS_RO_DIR/archive"
head -c 3M /dev/urandom >"$NFS_RW_DIR/team/web/blob"
chmod 0750 "$NFS_RW_DIR/team/web"
chown 1234:4321 "$NFS_RW_DIR/team/web"
echo served >"$NFS_RO_DIR/archive/file"
ln -s /etc "$NFS_RW_DIR/escape"
before=$(cd "$NFS_RW_DIR" && find . -printf '%p %m %u %g %s\n' | sort | md5sum)

nfs_spec web "" ', "subDir": "team/web"' >"$T/specs/web.json"
pv1 create --existing -f "$T/specs/web.json" >"$T/out" || nfs_fail "register subDir"
grep -q "registered.*reclaimPolicy Retain" "$T/out" || nfs_fail "register: $(cat "$T/out")"
nfs_spec whole "" >"$T/specs/whole.json"
pv1 create --existing -f "$T/specs/whole.json" >/dev/null || nfs_fail "register the whole share"
pv1 get whole -o json | grep -q '"subDir"' && nfs_fail "a subDir was invented for the whole share"
nfs_spec ghost "" ', "subDir": "team/ghost"' >"$T/specs/ghost.json"
expect_fail 1 "team/ghost does not exist" create --existing -f "$T/specs/ghost.json"
nfs_spec esc "" ', "subDir": "escape"' >"$T/specs/esc.json"
expect_fail 2 "symbolic link" create --existing -f "$T/specs/esc.json"
[ -e "$NFS_RW_DIR/team/ghost" ] && nfs_fail "a directory was created for a registration"
[ -e "$T/state1/catalog/ghost.json" ] || [ -e "$T/state1/catalog/esc.json" ] && nfs_fail "a refused PV was recorded"
after=$(cd "$NFS_RW_DIR" && find . -printf '%p %m %u %g %s\n' | sort | md5sum)
[ "$before" = "$after" ] || nfs_fail "registration changed the share"
nfs_ok "share and subDir registered as they are; missing subDir and symlink refused, nothing made"

# A read-only export: registered, staged and published read-only.
nfs_spec shelf "" ', "subDir": "archive"' >"$T/specs/shelf.json"
sed -i "s#\"share\": \"$NFS_RW_SHARE\"#\"share\": \"$NFS_RO_SHARE\"#" "$T/specs/shelf.json"
pv1 create --existing -f "$T/specs/shelf.json" >/dev/null || nfs_fail "register on the RO export"
pv1 stage shelf && pv1 publish shelf "$T/targets/shelf" >/dev/null || nfs_fail "stage/publish RO export"
[ "$(cat "$T/targets/shelf/file")" = served ] || nfs_fail "RO export: cannot read"
if err=$(sh -c "echo x >'$T/targets/shelf/new'" 2>&1); then nfs_fail "RO export: write succeeded"; fi
echo "$err" | grep -q "Read-only file system" || nfs_fail "RO export: expected EROFS, got: $err"
pv1 unpublish shelf "$T/targets/shelf" && pv1 unstage shelf || nfs_fail "teardown RO export"
nfs_ok "read-only export registered; writes get EROFS"

# The registered subDir in use, then deleted: the record goes, the files stay.
pv1 stage web && pv1 publish web "$T/targets/web" >/dev/null || nfs_fail "stage/publish web"
cmp "$T/targets/web/blob" "$NFS_RW_DIR/team/web/blob" || nfs_fail "web: data differs"
pv1 unpublish web "$T/targets/web" && pv1 unstage web || nfs_fail "teardown web"
sum=$(md5sum <"$NFS_RW_DIR/team/web/blob")
pv1 delete web >"$T/out" || nfs_fail "delete web"
grep -q "kept" "$T/out" || nfs_fail "delete of a Retain PV: $(cat "$T/out")"
[ "$(md5sum <"$NFS_RW_DIR/team/web/blob")" = "$sum" ] || nfs_fail "delete changed the data"
[ "$(stat -c '%a %u %g' "$NFS_RW_DIR/team/web")" = "750 1234 4321" ] || nfs_fail "delete changed the directory"
pv1 delete whole >/dev/null && pv1 delete shelf >/dev/null || nfs_fail "delete whole/shelf"
[ -e "$NFS_RW_DIR/team/web/blob" ] || nfs_fail "deleting the whole-share PV removed files"
nfs_ok "delete of Retain PVs keeps the data byte for byte"
echo PASS
