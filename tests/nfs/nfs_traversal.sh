#!/bin/bash
# tests/nfs/nfs_traversal.sh — subDir and volume names cannot escape the share (the hole
# of CVE-2026-3864 in the Go NFS CSI driver): "..", absolute paths and symlinks that
# lead outside (or into a sibling volume) are refused at create and at stage, and
# nothing outside the volume's directory is touched.
set -euo pipefail
. "$(dirname "$0")/../lib/nfs.sh"
nfs_test_setup "$@"

refused() { # NAME SUBDIR EXPECTED-STATUS
	nfs_spec "$1" "" ", \"subDir\": \"$2\"" >"$T/specs/$1.json"
	local rc=0
	pv1 create -f "$T/specs/$1.json" 2>"$T/err" || rc=$?
	[ $rc -ne 0 ] || nfs_fail "subDir '$2' was accepted"
	[ -z "${3:-}" ] || [ $rc -eq "$3" ] || nfs_fail "subDir '$2': exit $rc, want $3 ($(cat "$T/err"))"
	echo "   refused subDir '$2': $(cat "$T/err")"
}

mkdir -p "$T/outside"
echo secret >"$T/outside/precious"
refused dotdot ".." 2
refused up "../outside" 2
refused deep "a/../../outside" 2
refused abs "/etc" 2
refused dots "a//b" 2
nfs_ok "'..', absolute and unclean subDirs refused as invalid input (exit 2)"

# Symlinks planted on the export by someone with write access to the share.
ln -s "$T/outside" "$NFS_RW_DIR/escape"
ln -s / "$NFS_RW_DIR/root"
mkdir -p "$NFS_RW_DIR/victim"
echo mine >"$NFS_RW_DIR/victim/data"
ln -s victim "$NFS_RW_DIR/alias"
refused link1 "escape"
refused link2 "escape/sub"
refused link3 "root/etc"
refused link4 "alias"
grep -q "symbolic link" "$T/err" || nfs_fail "symlink refusal does not say why: $(cat "$T/err")"
[ "$(cat "$T/outside/precious")" = secret ] || nfs_fail "outside file changed"
[ "$(stat -c %a "$T/outside")" != 2770 ] || nfs_fail "outside dir was chmod'ed"
[ ! -e "$T/outside/sub" ] || nfs_fail "a directory was created outside the share"
nfs_ok "symlinks out of the share or into a sibling volume are refused"

# A symlink swapped in after create: stage refuses it.
nfs_spec later "" ', "onDelete": "delete"' >"$T/specs/later.json"
pv1 create -f "$T/specs/later.json" || nfs_fail "create later"
rmdir "$NFS_RW_DIR/later"
ln -s "$T/outside" "$NFS_RW_DIR/later"
if pv1 stage later 2>"$T/err"; then nfs_fail "stage through a swapped-in symlink succeeded"; fi
grep -q "symbolic link" "$T/err" || nfs_fail "stage refusal: $(cat "$T/err")"
grep -q " $T/state1/staging/later " /proc/self/mountinfo && nfs_fail "something was mounted"
if pv1 delete later 2>"$T/err"; then nfs_fail "delete through a swapped-in symlink succeeded"; fi
[ "$(cat "$T/outside/precious")" = secret ] || nfs_fail "delete followed the symlink"
nfs_ok "stage and delete refuse a symlink swapped in after create; nothing outside touched"

# Delete removes a volume's tree without following the symlinks inside it.
nfs_spec tree "" >"$T/specs/tree.json"
pv1 create -f "$T/specs/tree.json" || nfs_fail "create tree"
mkdir -p "$NFS_RW_DIR/tree/a/b" "$T/outside/keepdir"
echo x >"$NFS_RW_DIR/tree/a/b/f"
echo keep >"$T/outside/keepdir/k"
ln -s "$T/outside" "$NFS_RW_DIR/tree/link-out"
ln -s "$T/outside/keepdir" "$NFS_RW_DIR/tree/a/link-dir"
pv1 delete tree || nfs_fail "delete tree"
[ ! -e "$NFS_RW_DIR/tree" ] || nfs_fail "tree left behind"
[ "$(cat "$T/outside/keepdir/k")" = keep ] && [ "$(cat "$T/outside/precious")" = secret ] ||
	nfs_fail "delete followed a symlink out of the volume"
nfs_ok "delete removes the tree and its symlinks, never what they point to"

# Volume names that would be unsafe as directory names never reach the share.
cat >"$T/specs/bad.json" <<JSON
{ "name": "..", "driver": "nfs", "capacity": "1Gi", "accessModes": ["RWX"],
  "attributes": { "server": "$NFS_SERVER", "share": "$NFS_RW_SHARE" } }
JSON
if pv1 create -f "$T/specs/bad.json" 2>"$T/err"; then nfs_fail "volume named '..' accepted"; fi
nfs_ok "volume named '..' refused: $(cat "$T/err")"
echo PASS
