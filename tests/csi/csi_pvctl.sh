#!/bin/bash
# csi_pvctl.sh — pvctl --endpoint as a CSI client: info, create -f, get, stage,
# publish, stats, unpublish, unstage, delete over CSI with the in-process exit
# statuses (0 ok, 1 failed, 2 invalid, 3 refused by policy).
set -eu
. "${CSI_TEST_LIB:-$(dirname "$0")/../lib/csi.sh}"
csi_require_root
[ -x "${PVCTL:-}" ] || csi_skip "pvctl not built"
csi_setup
csi_start
P() { "$PVCTL" --endpoint "$EP" --allowed-path "$ALLOWED" --state-dir "$T/state" "$@"; }
rc_of() { local rc=0; "$@" >"$T/out" 2>"$T/err" || rc=$?; echo "$rc"; }

P info >"$T/info"
grep -q "pvnode.csi.io" "$T/info" || csi_fail "info: $(cat "$T/info")"
grep -q "STAGE_UNSTAGE_VOLUME" "$T/info" || csi_fail "info lacks node capabilities"
grep -q "node-a" "$T/info" || csi_fail "info lacks the node id"
P info -o json | python3 -c 'import json,sys; json.load(sys.stdin)' || csi_fail "info -o json is not JSON"

cat >"$T/pv.json" <<JSON
{"name": "web", "driver": "file", "capacity": "48Mi", "accessModes": ["ReadWriteOncePod"],
 "volumeMode": "Filesystem", "fsType": "ext4"}
JSON
[ "$(rc_of P create -f "$T/pv.json")" = 0 ] || csi_fail "create: $(cat "$T/err")"
[ "$(rc_of P create -f "$T/pv.json")" = 0 ] || csi_fail "create repeat: $(cat "$T/err")"
P get | grep -q "^web " || csi_fail "get does not list web"
P get web -o json | grep -q '"ReadWriteOncePod"' || csi_fail "get web -o json"
mkdir -p "$ALLOWED/pods/a" "$ALLOWED/pods/b"
[ "$(rc_of P stage web)" = 0 ] || csi_fail "stage: $(cat "$T/err")"
[ "$(rc_of P publish web "$ALLOWED/pods/a/web")" = 0 ] || csi_fail "publish: $(cat "$T/err")"
echo x >"$ALLOWED/pods/a/web/x"
[ "$(rc_of P publish web "$ALLOWED/pods/b/web")" = 3 ] || csi_fail "second RWOP publish not refused with 3: $(cat "$T/err")"
[ "$(rc_of P publish web /etc/passwd-dir)" = 2 ] || csi_fail "path outside allowed not 2: $(cat "$T/err")"
[ "$(rc_of P stage nosuch)" = 1 ] || csi_fail "unknown volume not 1: $(cat "$T/err")"
[ "$(rc_of P stage web --access-mode BOGUS)" = 2 ] || csi_fail "bad access mode not 2"
[ "$(rc_of P stats web "$ALLOWED/pods/a/web")" = 0 ] || csi_fail "stats: $(cat "$T/err")"
grep -q "^bytes" "$T/out" || csi_fail "stats output: $(cat "$T/out")"
[ "$(rc_of P delete web)" = 3 ] || csi_fail "delete of a staged volume not refused: $(cat "$T/err")"
[ "$(rc_of P unpublish web "$ALLOWED/pods/a/web")" = 0 ] || csi_fail "unpublish: $(cat "$T/err")"
[ "$(rc_of P unstage web)" = 0 ] || csi_fail "unstage: $(cat "$T/err")"
[ "$(rc_of P delete web)" = 0 ] || csi_fail "delete: $(cat "$T/err")"
[ "$(rc_of P delete web)" = 0 ] || csi_fail "delete repeat: $(cat "$T/err")"
[ "$(rc_of P bogus)" = 2 ] || csi_fail "unknown command not 2"
csi_stop TERM
[ "$(rc_of P info)" = 1 ] || csi_fail "info against a stopped daemon not 1"
echo PASS
