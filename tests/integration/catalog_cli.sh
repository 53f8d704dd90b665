#!/usr/bin/env bash
# The catalog through pvctl: table, JSON (one object / items), Kubernetes manifest with
# the gid annotation, the create <- get -o json round trip, and strict refusals (exit 2,
# the JSON path named, nothing written).
. "$(dirname "$0")/../lib/common.sh"
expect_rc 0 pvctl create -f "$(mkpv web-data file 128Mi RWO,ROX '"gid":5555,"mountOptions":["noatime"],"fsType":"ext4"')"
expect_rc 0 pvctl create -f "$(mkpv logs file 1Gi RWOP)"
expect_rc 0 pvctl get
assert_contains "$LAST_OUT" "NAME"
assert_contains "$LAST_OUT" "ACCESS MODES"
assert_contains "$LAST_OUT" "web-data"
assert_contains "$LAST_OUT" "RWO,ROX"
assert_contains "$LAST_OUT" "Available"
expect_rc 0 pvctl get web-data -o json
json=$LAST_OUT
assert_contains "$json" '"capacity": "128Mi"'
assert_contains "$json" '"gid": 5555'
expect_rc 0 pvctl get -o json
assert_contains "$LAST_OUT" '"items"'
expect_rc 0 pvctl get web-data -o k8s
assert_contains "$LAST_OUT" '"kind": "PersistentVolume"'
assert_contains "$LAST_OUT" '"pv.beta.kubernetes.io/gid": "5555"'
assert_contains "$LAST_OUT" '"volumeHandle": "web-data"'
assert_contains "$LAST_OUT" '"pvnode.io/driver": "file"'
python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["spec"]["accessModes"]==["ReadWriteOnce","ReadOnlyMany"]' <<<"$LAST_OUT"
step "round trip: get -o json | create -f - on another catalog"
printf '%s\n' "$json" >"$TESTDIR/export.json"
expect_rc 0 pvctl --state-dir "$TESTDIR/state2" create -f "$TESTDIR/export.json"
expect_rc 0 pvctl --state-dir "$TESTDIR/state2" get web-data -o json
assert_eq "$LAST_OUT" "$json" "exported PV"
step "refusals"
for bad in '{"name":"x","driver":"file","capacity":"1Gi","accessModes":["RWO"],"size":3}:size' \
	'{"name":"x","driver":"file","capacity":"1GB","accessModes":["RWO"]}:capacity' \
	'{"name":"x","driver":"file","capacity":"1Gi","accessModes":["RWO","SOMETIMES"]}:accessModes[1]' \
	'{"name":"x","driver":"floppy","capacity":"1Gi","accessModes":["RWO"]}:driver' \
	'{"name":"x","driver":"file","capacity":"1Gi","accessModes":["RWO"],"attributes":{"colour":"red"}}:attributes.colour' \
	'{"name":"x","driver":"file","capacity":"1Gi","accessModes":["ReadWriteMany"]}:accessModes'; do
	printf '%s\n' "${bad%:*}" >"$TESTDIR/bad.json"
	expect_rc 2 pvctl create -f "$TESTDIR/bad.json"
	assert_contains "$LAST_ERR" "${bad##*:}" "error for ${bad%:*}"
	[ -e "$PVNODE_STATE_DIR/catalog/x.json" ] && fail "catalog entry written for a refused PV"
	[ -e "$PVNODE_STATE_DIR/images/x.img" ] && fail "image written for a refused PV"
done
echo '{"name":"y","driver":"file","capacity":"1Gi","accessModes":["RWO"]}' | pvctl create -f - >/dev/null || fail "create -f -"
expect_rc 2 pvctl get -o yaml
expect_rc 2 pvctl nosuchcommand
expect_rc 1 pvctl get nothere
exit 0
