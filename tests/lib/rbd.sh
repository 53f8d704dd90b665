# tests/lib/rbd.sh — helpers for the RBD tests on top of tests/lib/ceph.sh:
#   rbd_ctl JSON-MEMBERS        run pvnode-rbd with the cluster's monitors, pool and key
#                               plus the given members ('"op":"info","image":"x"'); prints
#                               the reply, returns its exit status. CTL_MONITORS / CTL_POOL
#                               override the monitors / pool (the request refuses duplicates)
#   helper_start NAME ARGS...   start pvnode-rbd-fuse for image NAME with the admin key on
#                               stdin, mount at $TESTDIR/NAME.<n>/fuse; waits for its fd-3
#                               line into HELPER_LINE; HELPER_PID, HELPER_MNT, HELPER_STATUS
#                               (returns 1 when the line is not READY)
#   helper_stop PID             SIGTERM, wait; returns the helper's exit status
#   status_get FILE KEY         a value from a helper status file
: "${PVNODE_HELPER_DIR:=${PVNODE_BUILD_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build}}"
RBD_CTL=${RBD_CTL:-$PVNODE_HELPER_DIR/pvnode-rbd}
RBD_FUSE=${RBD_FUSE:-$PVNODE_HELPER_DIR/pvnode-rbd-fuse}
_RBD_N=0
RBD_HELPERS=()

rbd_ctl() {
	local key
	key=$(cat "$CEPH_KEY_FILE")
	# printf is a builtin: the key never reaches an argv
	printf '{"monitors":"%s","pool":"%s","userID":"%s","userKey":"%s",%s}' \
		"${CTL_MONITORS:-$CEPH_MONITORS}" "${CTL_POOL:-$CEPH_POOL}" "$CEPH_USER" "$key" "$1" | ASAN_OPTIONS=detect_leaks=0 "$RBD_CTL"
}

helper_start() {
	local image=$1 i key dir line=""
	shift
	_RBD_N=$((_RBD_N + 1))
	dir="$TESTDIR/$image.$_RBD_N"
	mkdir -p "$dir/fuse"
	key=$(cat "$CEPH_KEY_FILE")
	HELPER_MNT="$dir/fuse"
	HELPER_STATUS="$dir/status"
	printf '{"userID":"%s","userKey":"%s"}' "$CEPH_USER" "$key" |
		ASAN_OPTIONS=detect_leaks=0 "$RBD_FUSE" --monitors "$CEPH_MONITORS" --pool "$CEPH_POOL" \
			--image "$image" --mountpoint "$HELPER_MNT" --status "$HELPER_STATUS" "$@" \
			3>"$dir/ready" >>"$dir/log" 2>&1 &
	HELPER_PID=$!
	RBD_HELPERS+=("$HELPER_PID")
	for i in $(seq 1 600); do
		line=$(head -1 "$dir/ready" 2>/dev/null)
		[ -n "$line" ] && break
		kill -0 "$HELPER_PID" 2>/dev/null || { sleep 0.1; line=$(head -1 "$dir/ready"); break; }
		sleep 0.05
	done
	HELPER_LINE=$line
	case "$line" in READY*) return 0 ;; *) return 1 ;; esac
}

helper_stop() {
	local pid=$1 rc=0
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" || rc=$?
	return $rc
}

status_get() { sed -n "s/^$2=//p" "$1" 2>/dev/null; }

# cleanup, before the cluster goes: filesystems on our loop devices, the loop devices
# over our FUSE files (while those are still mounted: a lazily unmounted FUSE file shows
# as "/disk" and cannot be matched any more), then the helpers this test started
# itself or through pvctl/pvnode (their mountpoint is under TESTDIR).
_rbd_cleanup_helpers() {
	local p f m
	for f in /sys/block/loop*/loop/backing_file; do
		[ -e "$f" ] && grep -q "^$TESTDIR/" "$f" 2>/dev/null || continue
		p=/dev/$(basename "$(dirname "$(dirname "$f")")")
		for m in $(awk -v d="$p" '{ for (i = 7; i < NF; i++) if ($i == "-") { if ($(i + 2) == d) print $5; break } }' /proc/self/mountinfo); do
			umount -l "$m"
		done
		losetup -d "$p"
	done
	for m in $(awk -v d="$TESTDIR/" 'index($5, d) == 1 && / - fuse/ { print $5 }' /proc/self/mountinfo); do
		umount -l "$m"   # a FUSE server whose cluster is gone may never answer
	done
	# ours, and those pvctl/pvnode started for this test's state directories
	RBD_HELPERS+=($(pgrep -f "pvnode-rbd-fuse .*--mountpoint $TESTDIR/" || true))
	for p in "${RBD_HELPERS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${RBD_HELPERS[@]}"; do
		for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
}
CLEANUP_HOOKS+=(_rbd_cleanup_helpers)
[ -x "$RBD_CTL" ] || { echo "FAIL: no pvnode-rbd at $RBD_CTL (build with librbd-dev)" >&2; exit 1; }
