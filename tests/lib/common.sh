# tests/lib/common.sh — shared by the integration tests (bash).
#
# Each test gets its own directory (TESTDIR) with its own state directory, allowed
# target prefix and images, so tests run in parallel. The EXIT trap undoes everything
# the test made — mounts under TESTDIR, loop devices over files under TESTDIR, processes
# it registered — also when the test fails. Exit status: 0 pass, 77 skip, else fail.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root (loop devices, mounts)"; exit 77; fi
[ -e /dev/loop-control ] || { echo "SKIP: no loop devices"; exit 77; }

: "${PVCTL:=${PVNODE_BUILD_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build}/pvctl}"
export PVCTL
TESTDIR=$(mktemp -d /tmp/pvnode-test.XXXXXX)
export PVNODE_STATE_DIR="$TESTDIR/state"
export PVNODE_ALLOWED_PATHS="$TESTDIR/targets"
export PVNODE_NODE_ID=node-a
export PVNODE_SELINUX=auto
mkdir -p "$TESTDIR/targets"
CLEANUP_PIDS=()
CLEANUP_HOOKS=()

# Detach the loop devices over files below TESTDIR (one still in use detaches at its
# last close: the kernel sets autoclear).
detach_loops() {
	local f
	for f in /sys/block/loop*/loop/backing_file; do
		[ -e "$f" ] || continue
		if grep -q "^$TESTDIR" "$f" 2>/dev/null; then
			local dev=/dev/$(basename "$(dirname "$(dirname "$f")")")
			losetup -d "$dev" 2>/dev/null || true
		fi
	done
}

# Unmount everything below TESTDIR (deepest first), detach its loop devices — before
# the unmounts too: a loop device over a helper's FUSE file that was lazily unmounted
# names its backing file "/disk", no longer below TESTDIR, and would be left behind.
cleanup_mounts_and_loops() {
	local m
	detach_loops
	for _ in 1 2 3; do
		while read -r m; do
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
		done < <(awk -v d="$TESTDIR" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
	done
	detach_loops
}

cleanup() {
	local rc=$?
	set +e
	local h p
	if [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ -d "$TESTDIR" ]; then
		# what the helpers said is often the only trace of why: their logs die with TESTDIR
		# (pvnode's own: a test server's logs would push the failure out of meson's last
		# 100 lines; PVNODE_TEST_KEEP_LOGS keeps those)
		find "$TESTDIR" -name 'pvnode*.log' -type f -size +0 2>/dev/null | while read -r h; do
			echo "=== last lines of ${h#"$TESTDIR"/}" >&2
			tail -n 12 "$h" >&2
		done
		[ -z "${FAIL_MSG:-}" ] || echo "FAIL (again, after the logs): $FAIL_MSG" >&2
		# PVNODE_TEST_KEEP_LOGS=DIR: every text log of a failed test is kept there
		if [ -n "${PVNODE_TEST_KEEP_LOGS:-}" ]; then
			local keep
			keep="$PVNODE_TEST_KEEP_LOGS/$(basename "$0" .sh).$$"
			mkdir -p "$keep" && find "$TESTDIR" -name '*.log' -type f -size +0 -exec grep -Il . {} + 2>/dev/null |
				while read -r h; do cp "$h" "$keep/$(echo "${h#"$TESTDIR"/}" | tr / _)"; done
		fi
	fi
	for h in "${CLEANUP_HOOKS[@]}"; do $h; done
	for p in "${CLEANUP_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${CLEANUP_PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
	done
	cleanup_mounts_and_loops
	# helpers started by pvnode/pvctl for this test (their cmdline names TESTDIR)
	for p in $(pgrep -f "$TESTDIR" 2>/dev/null); do [ "$p" != $$ ] && kill "$p" 2>/dev/null; done
	sleep 0.2
	cleanup_mounts_and_loops
	rm -rf "$TESTDIR"
	if [ $rc -eq 0 ]; then echo "PASS"; elif [ $rc -eq 77 ]; then echo "SKIP"; else echo "FAIL (exit $rc)"; fi
	exit $rc
}
trap cleanup EXIT

fail() { FAIL_MSG="$*"; echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

# A pvctl that hangs is a failure that names the command, not a test killed at 300 s.
pvctl() { timeout -k 5 "${PVCTL_TIMEOUT:-120}" "$PVCTL" "$@"; }

# expect_rc N cmd...: run cmd, require exit status N; its stderr is kept in $LAST_ERR.
expect_rc() {
	local want=$1; shift
	local out rc=0
	out=$("$@" 2>"$TESTDIR/.err") || rc=$?
	LAST_OUT=$out
	LAST_ERR=$(cat "$TESTDIR/.err")
	if [ "$rc" -ne "$want" ]; then
		[ "$rc" -eq 124 ] && echo "timed out: $*" >&2
		echo "command: $*" >&2
		echo "stdout: $out" >&2
		echo "stderr: $LAST_ERR" >&2
		fail "exit status $rc, wanted $want"
	fi
}

assert_contains() { # haystack needle [what]
	case "$1" in *"$2"*) ;; *) fail "${3:-output} does not contain '$2': $1" ;; esac
}
assert_not_contains() {
	case "$1" in *"$2"*) fail "${3:-output} contains '$2': $1" ;; *) ;; esac
}
assert_eq() { [ "$1" = "$2" ] || fail "${3:-value} is '$1', wanted '$2'"; }

# mkpv NAME DRIVER CAPACITY MODES [extra JSON members] — writes $TESTDIR/NAME.json
mkpv() {
	local name=$1 driver=$2 cap=$3 modes=$4 extra=${5:-}
	local m="" x
	IFS=, read -ra arr <<<"$modes"
	for x in "${arr[@]}"; do m="$m${m:+,}\"$x\""; done
	printf '{"name":"%s","driver":"%s","capacity":"%s","accessModes":[%s]%s}\n' \
		"$name" "$driver" "$cap" "$m" "${extra:+,$extra}" >"$TESTDIR/$name.json"
	echo "$TESTDIR/$name.json"
}

# Loop devices whose backing file is FILE.
loops_of() { losetup -j "$1" -O NAME -n 2>/dev/null | wc -l; }
mounts_under() { awk -v d="$1" 'index($5, d) == 1' /proc/self/mountinfo | wc -l; }
