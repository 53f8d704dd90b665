#!/bin/bash
# tests/nfs/nfs_squash.sh — the userspace mounter sends each caller's own credentials
# (uid, gid, supplementary groups), as a kernel NFS client does, so it works on exports
# that squash root: on such an export a uid 1000 process with the volume's group writes
# (files owned 1000:group), without the group it gets EACCES, and root is squashed to
# nobody exactly as the server decides.
set -euo pipefail
. "$(dirname "$0")/../lib/nfs.sh"
nfs_test_setup "$@"

# Provisioning needs root on the server; on a squashed export the admin prepares the dir.
mkdir -p "$NFS_SQ_DIR/team"
chgrp 5555 "$NFS_SQ_DIR/team"
chmod 2770 "$NFS_SQ_DIR/team"
nfs_spec team "" ', "subDir": "team", "onDelete": "retain"' >"$T/specs/team.json"
sed -i "s#\"share\": \"$NFS_RW_SHARE\"#\"share\": \"$NFS_SQ_SHARE\"#" "$T/specs/team.json"
pv1 create -f "$T/specs/team.json" && pv1 stage team || nfs_fail "create/stage on the squashed export"
pv1 publish team "$T/targets/team" >/dev/null || nfs_fail "publish"
tgt=$T/targets/team

nfs_as_user 5555 sh -c "mkdir '$tgt/d' && echo hi >'$tgt/d/f'" || nfs_fail "uid 1000 + 5555 cannot write"
[ "$(stat -c %u:%g "$NFS_SQ_DIR/team/d/f")" = 1000:5555 ] ||
	nfs_fail "file owner on the server: $(stat -c %u:%g "$NFS_SQ_DIR/team/d/f"), want 1000:5555"
[ "$(stat -c %u:%g "$NFS_SQ_DIR/team/d")" = 1000:5555 ] || nfs_fail "dir owner: $(stat -c %u:%g "$NFS_SQ_DIR/team/d")"
nfs_ok "root-squashed export: uid 1000 with group 5555 writes; the server made the files 1000:5555"

if nfs_as_user "" sh -c "echo x >'$tgt/nope'" 2>/dev/null; then nfs_fail "uid 1000 without the group wrote"; fi
nfs_ok "without the group: EACCES"

if sh -c "echo x >'$tgt/root-file'" 2>"$T/err"; then
	owner=$(stat -c %u "$NFS_SQ_DIR/team/root-file")
	[ "$owner" != 0 ] || nfs_fail "root was not squashed (file owned by root)"
	echo "   root wrote as uid $owner (squashed)"
else
	grep -q "Permission denied" "$T/err" || nfs_fail "root on a squashed export: $(cat "$T/err")"
	echo "   root is squashed to nobody: $(cat "$T/err")"
fi
nfs_ok "root is squashed as the server decides"
pv1 unpublish team "$tgt" && pv1 unstage team && pv1 delete team || nfs_fail "teardown"
[ -d "$NFS_SQ_DIR/team" ] || nfs_fail "onDelete=retain removed the dir"
echo PASS
