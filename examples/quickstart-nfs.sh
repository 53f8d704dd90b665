#!/bin/bash
# examples/quickstart-nfs.sh — an NFS volume in one minute, on a loopback nfs-ganesha.
#
#   sudo examples/quickstart-nfs.sh [path/to/pvctl]     (default: build/pvctl, then PATH)
#
# Starts rpcbind + nfs-ganesha in a private network namespace (tests/lib/nfs.sh: NFSv3
# needs rpcbind on port 111, the namespace keeps it off the host), then: create a
# shared volume with a supplemental gid, stage it (userspace mounter: a FUSE helper
# over libnfs), publish it, write as an unprivileged user that has the group, show it,
# and clean everything up. Called by the README quickstart; runs on its own too.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tests/lib/nfs.sh"

PVCTL=${1:-${PVCTL:-}}
if [ -z "$PVCTL" ]; then
	for c in "$here/../build/pvctl" "$(command -v pvctl || true)"; do
		[ -n "$c" ] && [ -x "$c" ] && { PVCTL=$c; break; }
	done
fi
[ -n "$PVCTL" ] || { echo "quickstart-nfs: no pvctl found; build it first (meson setup build && ninja -C build)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "quickstart-nfs: run as root (mounts, namespaces)" >&2; exit 1; }
nfs_fixture_have || { echo "quickstart-nfs: install $(cat "$here/../scripts/deps/nfs.txt")" >&2; exit 1; }
export PVNODE_HELPER_DIR=${PVNODE_HELPER_DIR:-$(dirname "$(readlink -f "$PVCTL")")}

Q=$(mktemp -d /tmp/pvnode-quickstart-nfs.XXXXXX)
chmod 755 "$Q"
cleanup() {
	set +e
	pvq unpublish web "$Q/pod/web" >/dev/null 2>&1
	pvq unstage web >/dev/null 2>&1
	pvq delete web >/dev/null 2>&1
	nfs_fixture_stop
	rm -rf "$Q"
}
trap cleanup EXIT
pvq() { nfs_in_ns "$PVCTL" --state-dir "$Q/state" --node-id quickstart --allowed-path "$Q" "$@"; }
run() { echo "\$ pvctl $*"; pvq "$@"; }

echo "# 1. a loopback NFS server (nfs-ganesha, exports /rw and /ro)"
mkdir -p "$Q/server"
nfs_fixture_start "$Q/server"
echo "   ganesha up in network namespace of pid $NFS_NS_PID; export /rw is $NFS_RW_DIR"

echo "# 2. a shared volume with supplemental group 5555"
cat >"$Q/web.json" <<JSON
{
  "name": "web",
  "driver": "nfs",
  "capacity": "1Gi",
  "accessModes": ["ReadWriteMany"],
  "gid": 5555,
  "attributes": { "server": "127.0.0.1", "share": "/rw" }
}
JSON
cat "$Q/web.json"
run create -f "$Q/web.json"
ls -ld "$NFS_RW_DIR/web"

echo "# 3. stage (no kernel NFS client here: pvnode-nfs-fuse mounts it) and publish"
run stage web
mkdir -p "$Q/pod"
run publish -o json web "$Q/pod/web"

echo "# 4. uid 1000 with group 5555 writes; without the group it is refused"
setpriv --reuid 1000 --regid 1000 --groups 5555 -- sh -c "echo hello from uid 1000 >'$Q/pod/web/hello.txt'"
cat "$Q/pod/web/hello.txt"
setpriv --reuid 1000 --regid 1000 --clear-groups -- sh -c "echo x >'$Q/pod/web/nope'" 2>&1 || true
ls -l "$NFS_RW_DIR/web"

echo "# 5. what the node knows"
run describe web
run get -o json web

echo "# 6. clean up"
run unpublish web "$Q/pod/web"
run unstage web
run delete web
echo "quickstart-nfs: done"
