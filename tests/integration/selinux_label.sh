#!/usr/bin/env bash
# SELinux labels on block storage: with --selinux on the volume root carries
# system_u:object_r:container_file_t:<level>; off labels nothing; auto labels only where
# the kernel enforces SELinux; a level derived from a pod identity is stable; a
# recursive relabel runs only on request.
. "$(dirname "$0")/../lib/common.sh"
label_of() { getfattr -h --absolute-names -n security.selinux --only-values "$1" 2>/dev/null | tr -d '\0'; }
expect_rc 0 pvctl create -f "$(mkpv lab file 64Mi RWO)"
expect_rc 0 pvctl stage lab
step "mode on, explicit level"
expect_rc 0 pvctl --selinux on publish lab "$TESTDIR/targets/t1" --selinux-level s0:c1,c2 -o json
assert_contains "$LAST_OUT" '"selinuxLabel": "system_u:object_r:container_file_t:s0:c1,c2"'
assert_eq "$(label_of "$TESTDIR/targets/t1")" "system_u:object_r:container_file_t:s0:c1,c2" "target root label"
expect_rc 0 pvctl describe lab
assert_contains "$LAST_OUT" "SELinux label: system_u:object_r:container_file_t:s0:c1,c2"
step "invalid level refused"
expect_rc 2 pvctl --selinux on publish lab "$TESTDIR/targets/bad" --selinux-level 's0:c2,c1'
step "files keep their labels without --relabel, get them with it"
mkdir -p "$TESTDIR/targets/t1/sub" && touch "$TESTDIR/targets/t1/sub/f"
expect_rc 0 pvctl unpublish lab "$TESTDIR/targets/t1"
expect_rc 0 pvctl --selinux on publish lab "$TESTDIR/targets/t2" --selinux-level s0:c7,c9
assert_eq "$(label_of "$TESTDIR/targets/t2")" "system_u:object_r:container_file_t:s0:c7,c9"
[ "$(label_of "$TESTDIR/targets/t2/sub/f")" = "system_u:object_r:container_file_t:s0:c7,c9" ] && fail "relabelled without --relabel"
expect_rc 0 pvctl unpublish lab "$TESTDIR/targets/t2"
expect_rc 0 pvctl --selinux on publish lab "$TESTDIR/targets/t3" --selinux-level s0:c3,c4 --relabel
assert_eq "$(label_of "$TESTDIR/targets/t3/sub/f")" "system_u:object_r:container_file_t:s0:c3,c4" "recursive relabel"
expect_rc 0 pvctl unpublish lab "$TESTDIR/targets/t3"
step "pod identity gives a stable level"
expect_rc 0 pvctl --selinux on publish lab "$TESTDIR/targets/p1" --pod 7d2b-uid -o json
l1=$(label_of "$TESTDIR/targets/p1")
expect_rc 0 pvctl unpublish lab "$TESTDIR/targets/p1"
expect_rc 0 pvctl --selinux on publish lab "$TESTDIR/targets/p2" --pod 7d2b-uid
assert_eq "$(label_of "$TESTDIR/targets/p2")" "$l1" "label from the same pod"
[[ "$l1" =~ ^system_u:object_r:container_file_t:s0:c[0-9]+,c[0-9]+$ ]] || fail "derived label '$l1'"
expect_rc 0 pvctl unpublish lab "$TESTDIR/targets/p2"
step "mode off and auto (kernel without SELinux) label nothing"
expect_rc 0 pvctl --selinux off publish lab "$TESTDIR/targets/o1" --selinux-level s0:c5,c6 -o json
assert_not_contains "$LAST_OUT" "selinuxLabel"
expect_rc 0 pvctl unpublish lab "$TESTDIR/targets/o1"
if ! grep -q selinuxfs /proc/filesystems || [ ! -e /sys/fs/selinux/enforce ]; then
	expect_rc 0 pvctl --selinux auto publish lab "$TESTDIR/targets/a1" --selinux-level s0:c5,c6 -o json
	assert_not_contains "$LAST_OUT" "selinuxLabel"
fi
expect_rc 0 pvctl delete lab --force
exit 0
