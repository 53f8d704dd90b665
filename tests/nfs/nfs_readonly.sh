#!/bin/bash
# tests/nfs/nfs_readonly.sh — access modes on NFS. Read-only is enforced with EROFS (not
# a silent success or a hang): a ReadOnlyMany volume, a --readonly publish of a RWX
# volume, a volume on an export the server serves read-only. RWOP allows one publish.
# A gid volume whose root no longer lets the group in is reported at publish.
set -euo pipefail
. "$(dirname "$0")/../lib/nfs.sh"
nfs_test_setup "$@"

expect_erofs() { # PATH WHAT
	local err
	if err=$(sh -c "echo x >'$1'" 2>&1); then nfs_fail "$2: write to $1 succeeded"; fi
	echo "$err" | grep -q "Read-only file system" || nfs_fail "$2: expected EROFS, got: $err"
}

# ROX: the staging mount itself is read-only.
nfs_spec shelf "" "" >"$T/specs/shelf.json"
sed -i 's/"ReadWriteMany"/"ReadOnlyMany"/' "$T/specs/shelf.json"
pv1 create -f "$T/specs/shelf.json" || nfs_fail "create ROX"
echo preloaded >"$NFS_RW_DIR/shelf/book"
pv1 stage shelf || nfs_fail "stage ROX"
pv1 publish shelf "$T/targets/shelf" >/dev/null || nfs_fail "publish ROX"
[ "$(cat "$T/targets/shelf/book")" = preloaded ] || nfs_fail "ROX: cannot read"
expect_erofs "$T/targets/shelf/new" "ROX publish"
expect_erofs "$T/state1/staging/shelf/new" "ROX staging mount"
nfs_ok "ReadOnlyMany: reads work, writes get EROFS (publish and staging)"
pv1 unpublish shelf "$T/targets/shelf" && pv1 unstage shelf || nfs_fail "teardown ROX"

# --readonly publish of a writable volume: that target only.
nfs_spec share1 "" "" >"$T/specs/share1.json"
pv1 create -f "$T/specs/share1.json" && pv1 stage share1 || nfs_fail "create/stage RWX"
pv1 publish --readonly share1 "$T/targets/ro" >/dev/null || nfs_fail "readonly publish"
pv1 publish share1 "$T/targets/rw" >/dev/null || nfs_fail "rw publish"
echo w >"$T/targets/rw/f" || nfs_fail "rw target not writable"
expect_erofs "$T/targets/ro/g" "--readonly publish"
[ "$(cat "$T/targets/ro/f")" = w ] || nfs_fail "readonly target cannot read"
nfs_ok "--readonly publish gets EROFS while the rw target writes"
pv1 unpublish share1 "$T/targets/ro" && pv1 unpublish share1 "$T/targets/rw" && pv1 unstage share1 ||
	nfs_fail "teardown RWX"

# An export the server serves read-only: the server's NFS3ERR_ROFS arrives as EROFS.
mkdir -p "$NFS_RO_DIR/data"
echo served >"$NFS_RO_DIR/data/file"
nfs_spec archive "" ', "subDir": "data", "onDelete": "retain"' >"$T/specs/archive.json"
sed -i "s#\"share\": \"$NFS_RW_SHARE\"#\"share\": \"$NFS_RO_SHARE\"#" "$T/specs/archive.json"
pv1 create -f "$T/specs/archive.json" || nfs_fail "create on the RO export (existing dir)"
pv1 stage archive && pv1 publish archive "$T/targets/archive" >/dev/null || nfs_fail "stage/publish RO export"
[ "$(cat "$T/targets/archive/file")" = served ] || nfs_fail "RO export: cannot read"
expect_erofs "$T/targets/archive/new" "RO export"
expect_erofs "$T/targets/archive/file" "RO export (existing file)"
if mkdir "$T/targets/archive/d" 2>"$T/err"; then nfs_fail "RO export: mkdir succeeded"; fi
grep -q "Read-only" "$T/err" || nfs_fail "RO export: mkdir: $(cat "$T/err")"
nfs_ok "read-only export: writes and mkdir get EROFS"
pv1 unpublish archive "$T/targets/archive" && pv1 unstage archive || nfs_fail "teardown RO export"
nfs_spec newvol "" >"$T/specs/newvol.json"
sed -i "s#\"share\": \"$NFS_RW_SHARE\"#\"share\": \"$NFS_RO_SHARE\"#" "$T/specs/newvol.json"
if pv1 create -f "$T/specs/newvol.json" 2>"$T/err"; then nfs_fail "provisioning on a RO export succeeded"; fi
grep -qi "read-only\|cannot create" "$T/err" || nfs_fail "provisioning on RO export: $(cat "$T/err")"
nfs_ok "provisioning on a read-only export fails with: $(cat "$T/err")"

# A gid volume whose root was changed behind our back (group locked out): publish works
# but says so, and describe shows it.
nfs_spec locked 5555 >"$T/specs/locked.json"
pv1 create -f "$T/specs/locked.json" && pv1 stage locked || nfs_fail "create/stage locked"
chmod 0755 "$NFS_RW_DIR/locked"
pv1 publish locked "$T/targets/locked" >"$T/out" 2>&1 || nfs_fail "publish locked: $(cat "$T/out")"
pv1 describe locked >"$T/desc" 2>&1 || true
grep -q "locked out" "$T/out" "$T/desc" || nfs_fail "a locked-out root is not reported: $(cat "$T/out" "$T/desc")"
nfs_ok "a root that locks the group out is reported: $(grep -h -m1 'locked out' "$T/out" "$T/desc")"
pv1 unpublish locked "$T/targets/locked" && pv1 unstage locked || nfs_fail "teardown locked"

# ReadWriteOncePod: one publish on the node; a second is refused by the policy (exit 3).
nfs_spec solo "" >"$T/specs/solo.json"
sed -i 's/"ReadWriteMany"/"ReadWriteOncePod"/' "$T/specs/solo.json"
pv1 create -f "$T/specs/solo.json" && pv1 stage solo || nfs_fail "create/stage RWOP"
pv1 publish solo "$T/targets/solo1" >/dev/null || nfs_fail "first RWOP publish"
rc=0; pv1 publish solo "$T/targets/solo2" 2>"$T/err" >/dev/null || rc=$?
[ $rc -eq 3 ] || nfs_fail "second RWOP publish: exit $rc, want 3: $(cat "$T/err")"
nfs_ok "ReadWriteOncePod: second publish refused (exit 3): $(cat "$T/err")"
pv1 unpublish solo "$T/targets/solo1" && pv1 unstage solo || nfs_fail "teardown RWOP"
echo PASS
