#!/usr/bin/env bash
# pvctl expand grows the image, then the loop device and the mounted filesystem online;
# shrinking is refused. Online ext4 growth needs CAP_SYS_RESOURCE: where the process
# lacks it (this sandbox), the error says so; xfs grows with CAP_SYS_ADMIN.
. "$(dirname "$0")/../lib/common.sh"
expect_rc 0 pvctl create -f "$(mkpv grow file 320Mi RWO '"fsType":"xfs"')"
expect_rc 0 pvctl stage grow
expect_rc 0 pvctl publish grow "$TESTDIR/targets/g"
before=$(df -B1 --output=size "$TESTDIR/targets/g" | tail -1)
expect_rc 0 pvctl expand grow --capacity 1Gi
after=$(df -B1 --output=size "$TESTDIR/targets/g" | tail -1)
[ "$after" -gt $((before * 2)) ] || fail "filesystem did not grow: $before -> $after"
expect_rc 0 pvctl get grow -o json
assert_contains "$LAST_OUT" '"capacity": "1Gi"'
expect_rc 2 pvctl expand grow --capacity 32Mi
assert_contains "$LAST_ERR" "only grow"
step "ext4"
expect_rc 0 pvctl create -f "$(mkpv grow4 file 64Mi RWO)"
expect_rc 0 pvctl stage grow4
if grep -q '^CapEff:.*' /proc/self/status && (( (0x$(awk '/^CapEff/ {print $2}' /proc/self/status) >> 24) & 1 )); then
	expect_rc 0 pvctl expand grow4 --capacity 256Mi
else
	expect_rc 1 pvctl expand grow4 --capacity 256Mi
	assert_contains "$LAST_ERR" "CAP_SYS_RESOURCE"
fi
expect_rc 0 pvctl delete grow4 --force
expect_rc 0 pvctl delete grow --force
exit 0
