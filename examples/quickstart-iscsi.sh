#!/bin/bash
# examples/quickstart-iscsi.sh — an iSCSI volume in one minute, on a loopback tgtd.
#
#   sudo examples/quickstart-iscsi.sh [path/to/pvctl]     (default: build/pvctl, then PATH)
#
# Starts tgtd (userspace target) on a free loopback port with a CHAP-protected 256 MiB
# LUN (tests/lib/iscsi.sh), then: store the CHAP secret, create a ReadWriteOnce volume,
# stage it (userspace initiator: a libiscsi helper serving the LUN as a FUSE file under a
# loop device, reserved with a SCSI-3 persistent reservation), publish it, write, show
# it, show a second node being fenced off, and clean everything up. Called by the README
# quickstart; runs on its own too.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tests/lib/iscsi.sh"

PVCTL=${1:-${PVCTL:-}}
if [ -z "$PVCTL" ]; then
	for c in "$here/../build/pvctl" "$(command -v pvctl || true)"; do
		[ -n "$c" ] && [ -x "$c" ] && { PVCTL=$c; break; }
	done
fi
[ -n "$PVCTL" ] || { echo "quickstart-iscsi: no pvctl found; build it first (meson setup build && ninja -C build)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "quickstart-iscsi: run as root (loop devices, FUSE, mounts)" >&2; exit 1; }
command -v tgtd >/dev/null || { echo "quickstart-iscsi: install $(cat "$here/../scripts/deps/iscsi.txt")" >&2; exit 1; }
export PVNODE_HELPER_DIR=${PVNODE_HELPER_DIR:-$(dirname "$(readlink -f "$PVCTL")")}
[ -x "$PVNODE_HELPER_DIR/pvnode-iscsi-fuse" ] || { echo "quickstart-iscsi: pvctl was built without the iscsi driver (libiscsi-dev, libfuse3-dev)" >&2; exit 1; }

Q=$(mktemp -d /tmp/pvnode-quickstart-iscsi.XXXXXX)
pvq() { local node=$1; shift; "$PVCTL" --state-dir "$Q/$node" --node-id "$node" --allowed-path "$Q" --selinux on "$@"; }
run() { echo "\$ pvctl [node $1] ${*:2}"; pvq "$@"; }
cleanup() {
	set +e
	pvq node-1 unpublish db "$Q/pod/db" >/dev/null 2>&1
	pvq node-1 unstage db >/dev/null 2>&1
	pvq node-1 delete db --force >/dev/null 2>&1
	pvq node-2 delete db --force >/dev/null 2>&1
	tgt_stop
	rm -rf "$Q"
}
trap cleanup EXIT

echo "# 1. a loopback iSCSI target (tgtd), one 256 MiB LUN behind CHAP"
tgt_start "$Q"
IQN=iqn.2026-11.io.pvnode.example:db
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 "$Q/lun1.img" 256M
tgt_add_chap 1 pvnode 'quickstart-Chap-2026'
echo "target $IQN at $TGT_PORTAL (CHAP user pvnode)"

echo
echo "# 2. the CHAP secret goes to the secrets store (0600), never to a log, argv or describe"
echo "\$ pvctl secret set db-chap node.session.auth.username=pvnode node.session.auth.password=-"
echo 'quickstart-Chap-2026' | pvq node-1 secret set db-chap node.session.auth.username=pvnode node.session.auth.password=-
cat >"$Q/db.json" <<JSON
{
  "name": "db",
  "driver": "iscsi",
  "capacity": "256Mi",
  "accessModes": ["ReadWriteOnce"],
  "fsType": "ext4",
  "attributes": { "portal": "$TGT_PORTAL", "iqn": "$IQN", "lun": "1" },
  "secretRef": "db-chap"
}
JSON
cat "$Q/db.json"
run node-1 create -f "$Q/db.json"

echo
echo "# 3. stage (login, reservation, FUSE block file, loop device, mkfs.ext4) and publish"
run node-1 stage db
run node-1 publish db "$Q/pod/db" --selinux-level s0:c7,c9
echo "\$ echo 'hello over iSCSI' > $Q/pod/db/greeting"
echo 'hello over iSCSI' >"$Q/pod/db/greeting"
sync "$Q/pod/db/greeting"
run node-1 describe db

echo
echo "# 4. a second node wants the same ReadWriteOnce volume: the reservation says no"
echo 'quickstart-Chap-2026' | pvq node-2 secret set db-chap node.session.auth.username=pvnode node.session.auth.password=- >/dev/null
pvq node-2 create -f "$Q/db.json" >/dev/null
run node-2 stage db || echo "(refused with exit $?: node-1 holds the SCSI-3 reservation)"

echo
echo "# 5. clean up"
run node-1 unpublish db "$Q/pod/db"
run node-1 unstage db
run node-1 delete db
