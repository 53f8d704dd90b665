#!/bin/bash
# examples/quickstart-rbd.sh — a Ceph RBD volume in one minute, on a private mini cluster.
#
#   sudo examples/quickstart-rbd.sh [path/to/pvctl]     (default: build/pvctl, then PATH)
#
# Starts a throwaway Ceph cluster on loopback (one monitor, one in-memory OSD, cephx; the
# recipe of tests/lib/ceph.sh, under a temporary directory), then: store the cephx key,
# create a ReadWriteOnce volume (pvctl makes the RBD image), stage it on node-1 (a
# librbd helper takes the image's exclusive lock and serves it as a FUSE file under a
# loop device), publish it, write, show it, show node-2 being fenced off, and clean
# everything up, the cluster included. Called by scripts/quickstart; runs on its own too.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

PVCTL=${1:-${PVCTL:-}}
if [ -z "$PVCTL" ]; then
	for c in "$here/../build/pvctl" "$(command -v pvctl || true)"; do
		[ -n "$c" ] && [ -x "$c" ] && { PVCTL=$c; break; }
	done
fi
[ -n "$PVCTL" ] || { echo "quickstart-rbd: no pvctl found; build it first (meson setup build && ninja -C build)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "quickstart-rbd: run as root (loop devices, FUSE, mounts)" >&2; exit 1; }
command -v ceph-mon >/dev/null || { echo "quickstart-rbd: install $(cat "$here/../scripts/deps/rbd.txt")" >&2; exit 1; }
export PVNODE_HELPER_DIR=${PVNODE_HELPER_DIR:-$(dirname "$(readlink -f "$PVCTL")")}
[ -x "$PVNODE_HELPER_DIR/pvnode-rbd-fuse" ] || { echo "quickstart-rbd: pvctl was built without the rbd driver (librbd-dev, librados-dev, libfuse3-dev)" >&2; exit 1; }

Q=$(mktemp -d /tmp/pvnode-quickstart-rbd.XXXXXX)
CEPH_PARENT_DIR=$Q
. "$here/../tests/lib/ceph.sh"
pvq() { local node=$1; shift; "$PVCTL" --state-dir "$Q/$node" --node-id "$node" --allowed-path "$Q" --selinux on "$@"; }
run() { echo "\$ pvctl [$1] ${*:2}"; pvq "$@"; }
cleanup() {
	set +e
	pvq node-1 delete db --force >/dev/null 2>&1
	pvq node-2 delete db --force >/dev/null 2>&1
	ceph_stop
	rm -rf "$Q"
}
trap cleanup EXIT

echo "# 1. a private Ceph cluster on loopback: one monitor, one in-memory OSD, pool rbd, cephx"
ceph_start
echo "monitors $CEPH_MONITORS, pool $CEPH_POOL, user client.admin"

echo
echo "# 2. the cephx key goes to the secrets store (0600) from stdin; never to argv, a log or describe"
for n in node-1 node-2; do
	echo "\$ pvctl [$n] secret set ceph userID=admin userKey=- < admin.key"
	pvq "$n" secret set ceph userID=admin userKey=- <"$CEPH_KEY_FILE"
done
cat >"$Q/db.json" <<JSON
{
  "name": "db",
  "driver": "rbd",
  "capacity": "256Mi",
  "accessModes": ["ReadWriteOnce"],
  "fsType": "ext4",
  "attributes": { "monitors": "$CEPH_MONITORS", "pool": "$CEPH_POOL" },
  "secretRef": "ceph"
}
JSON
cat "$Q/db.json"
run node-1 create -f "$Q/db.json"
echo "\$ rbd info $CEPH_POOL/db"
rbd_cli info "$CEPH_POOL/db" | sed -n '1,2p;/features/p'

echo
echo "# 3. stage on node-1 (helper, exclusive lock, FUSE block file, loop device, mkfs.ext4) and publish"
run node-1 stage db
run node-1 publish db "$Q/pod/db" --selinux-level s0:c3,c4
echo "\$ echo 'hello over RBD' > $Q/pod/db/greeting"
echo 'hello over RBD' >"$Q/pod/db/greeting"
sync -f "$Q/pod/db/greeting"
run node-1 describe db

echo
echo "# 4. node-2 wants the same ReadWriteOnce volume: the exclusive lock says no"
pvq node-2 create -f "$Q/db.json" >/dev/null   # the same image, reused
rc=0
run node-2 stage db || rc=$?
echo "(refused with exit $rc: node-1 holds the image's exclusive lock)"
[ "$rc" = 3 ] || { echo "quickstart-rbd: expected exit 3 from node-2's stage" >&2; exit 1; }

echo
echo "# 5. clean up: node-1 lets go, node-2 could stage now; delete removes the image"
run node-1 unpublish db "$Q/pod/db"
run node-1 unstage db
run node-1 delete db
pvq node-2 delete db >/dev/null
