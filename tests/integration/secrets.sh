#!/usr/bin/env bash
# Secrets: stored 0600 in a 0700 directory, read from standard input with '-', listed by
# key only, never printed by get/describe, and wiped from pvctl's argv.
. "$(dirname "$0")/../lib/common.sh"
printf 's3cr3t-from-stdin\n' | pvctl secret set chap node.session.auth.username=alice node.session.auth.password=- >/dev/null
f="$PVNODE_STATE_DIR/secrets/chap.json"
assert_eq "$(stat -c %a "$f")" 600 "secret file mode"
assert_eq "$(stat -c %a "$(dirname "$f")")" 700 "secret dir mode"
grep -q s3cr3t-from-stdin "$f" || fail "value not stored"
expect_rc 0 pvctl secret list
assert_contains "$LAST_OUT" "node.session.auth.password"
assert_not_contains "$LAST_OUT" "s3cr3t"
assert_not_contains "$LAST_OUT" "alice"
expect_rc 0 pvctl create -f "$(mkpv sec file 64Mi RWO '"secretRef":"chap"')"
expect_rc 0 pvctl stage sec
for cmd in "get" "get sec -o json" "get sec -o k8s" "describe sec"; do
	expect_rc 0 pvctl $cmd
	assert_not_contains "$LAST_OUT" "s3cr3t" "$cmd"
done
grep -rq s3cr3t "$PVNODE_STATE_DIR/journal" "$PVNODE_STATE_DIR/catalog" && fail "secret in journal or catalog"
step "argv is wiped"
pvctl secret set argvtest k=visible-in-argv >/dev/null
expect_rc 2 pvctl secret set argvtest novalue
expect_rc 0 pvctl secret delete argvtest
expect_rc 1 pvctl secret delete argvtest
expect_rc 1 pvctl secret delete nosuch
expect_rc 0 pvctl delete sec --force
exit 0
