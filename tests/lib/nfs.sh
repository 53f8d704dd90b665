# tests/lib/nfs.sh — the nfs-ganesha fixture for NFS tests, benches and the quickstart.
#
# Starts rpcbind + nfs-ganesha (FSAL VFS, NFSv3 and v4) inside a private network and
# mount namespace this fixture creates (libnfs 4.0 needs NFSv3, which needs rpcbind on
# port 111; the namespace keeps it off the host). Three exports, directories under the
# caller's temp dir: /rw (read-write), /ro (read-only), /sq (read-write, root squashed),
# /rw2 (a second read-write share: copies between shares).
# Clients reach the server on 127.0.0.1 inside the namespace: run them under
# `nfs_in_ns CMD...` (network namespace only, so their mounts stay visible on the host). Each fixture has its own
# namespace, so tests can run in parallel. Teardown stops what it started, by PID; the
# namespace disappears with its last process.
#
#   nfs_fixture_start DIR   sets NFS_NS_PID NFS_SERVER NFS_{RW,RW2,RO,SQ}_DIR NFS_{RW,RW2,RO,SQ}_SHARE
#   nfs_in_ns CMD...        run CMD in the server's network namespace
#   nfs_server_stop / nfs_server_start   stop / restart ganesha only (outage tests)
#   nfs_fixture_stop        stop everything (call from your cleanup trap)

NFS_SERVER=127.0.0.1
NFS_RW_SHARE=/rw
NFS_RW2_SHARE=/rw2
NFS_RO_SHARE=/ro
NFS_SQ_SHARE=/sq
NFS_NS_PID=
NFS_FIXTURE_DIR=

nfs_fixture_have() {
	command -v ganesha.nfsd >/dev/null && command -v rpcbind >/dev/null &&
		command -v unshare >/dev/null && command -v nsenter >/dev/null &&
		[ -e /usr/lib/x86_64-linux-gnu/ganesha/libfsalvfs.so ] || \
		ls /usr/lib/*/ganesha/libfsalvfs.so >/dev/null 2>&1
}

_nfs_write_conf() {
	local d=$1
	cat >"$d/ganesha.conf" <<CONF
NFS_CORE_PARAM {
	Protocols = 3, 4;
	NFS_Port = 2049;
	MNT_Port = 20048;
	NLM_Port = 32803;
	Rquota_Port = 875;
	Enable_NLM = false;
	Enable_RQUOTA = false;
	Mount_Path_Pseudo = true;
	Plugins_Dir = "$(dirname "$(ls /usr/lib/*/ganesha/libfsalvfs.so | head -n1)")";
}
NFSv4 {
	Graceless = true;
	Lease_Lifetime = 10;
	RecoveryBackend = fs;
	RecoveryRoot = "$d/recovery";
}
NFS_KRB5 {
	Active_krb5 = false;
	CCacheDir = "$d/krb5cc";
}
LOG { Default_Log_Level = EVENT; }
EXPORT_DEFAULTS { SecType = sys; Squash = No_Root_Squash; }
# Tests change the export dirs behind ganesha's back: do not cache attributes/dirents.
MDCACHE { Dir_Chunk = 0; }
EXPORT {
	Export_Id = 1; Path = "$d/rw"; Pseudo = /rw; Access_Type = RW;
	Attr_Expiration_Time = 0;
	Squash = No_Root_Squash; SecType = sys; Protocols = 3, 4; Transports = TCP;
	FSAL { Name = VFS; }
}
EXPORT {
	Export_Id = 2; Path = "$d/ro"; Pseudo = /ro; Access_Type = RO;
	Attr_Expiration_Time = 0;
	Squash = No_Root_Squash; SecType = sys; Protocols = 3, 4; Transports = TCP;
	FSAL { Name = VFS; }
}
EXPORT {
	Export_Id = 4; Path = "$d/rw2"; Pseudo = /rw2; Access_Type = RW;
	Attr_Expiration_Time = 0;
	Squash = No_Root_Squash; SecType = sys; Protocols = 3, 4; Transports = TCP;
	FSAL { Name = VFS; }
}
EXPORT {
	Export_Id = 3; Path = "$d/sq"; Pseudo = /sq; Access_Type = RW;
	Attr_Expiration_Time = 0;
	Squash = Root_Squash; SecType = sys; Protocols = 3, 4; Transports = TCP;
	FSAL { Name = VFS; }
}
CONF
}

# The namespace holder: a small shell that owns the namespace, starts rpcbind, and
# waits for commands (start/stop ganesha) on a fifo, so an outage test can stop and
# restart ganesha inside the same namespace.
_nfs_holder_script() {
	cat <<'HOLDER'
set -u
d=$1
ip link set lo up || exit 1
mount -t tmpfs -o mode=0755 tmpfs /run || exit 1
mkdir -p /run/rpcbind
rpcbind -f -w &
rpcbind_pid=$!
echo "$rpcbind_pid" >"$d/rpcbind.pid"
ganesha_pid=
start_ganesha() {
	rm -f "$d/ganesha.pid"
	ganesha.nfsd -F -f "$d/ganesha.conf" -L "$d/ganesha.log" -p "$d/ganesha.pid" -N NIV_EVENT &
	ganesha_pid=$!
	echo "$ganesha_pid" >"$d/ganesha.child"
}
stop_ganesha() {
	if [ -n "$ganesha_pid" ]; then
		kill -TERM "$ganesha_pid" 2>/dev/null
		for _ in $(seq 100); do kill -0 "$ganesha_pid" 2>/dev/null || break; sleep 0.05; done
		kill -KILL "$ganesha_pid" 2>/dev/null
		wait "$ganesha_pid" 2>/dev/null
		ganesha_pid=
	fi
}
finish() { stop_ganesha; kill -TERM "$rpcbind_pid" 2>/dev/null; wait "$rpcbind_pid" 2>/dev/null; exit 0; }
trap finish TERM INT
start_ganesha
echo up >"$d/holder.ready"
while :; do
	if read -r cmd <"$d/ctl"; then
		case $cmd in
		stop) stop_ganesha; echo stopped >"$d/ctl.ack" ;;
		start) start_ganesha; echo started >"$d/ctl.ack" ;;
		quit) finish ;;
		esac
	fi
done
HOLDER
}

nfs_in_ns() {
	nsenter --net="/proc/$NFS_NS_PID/ns/net" -- "$@"
}

# Wait until ganesha answers NFSv3 NULL + MOUNT (rpcinfo registration done).
_nfs_wait_ready() {
	local i
	for i in $(seq 200); do
		if nfs_in_ns rpcinfo -t 127.0.0.1 nfs 3 >/dev/null 2>&1 &&
		   nfs_in_ns rpcinfo -t 127.0.0.1 mountd 3 >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.05
	done
	echo "nfs fixture: ganesha did not come up; log:" >&2
	tail -n 30 "$NFS_FIXTURE_DIR/ganesha.log" >&2
	return 1
}

nfs_fixture_start() {
	local d=$1
	NFS_FIXTURE_DIR=$d
	mkdir -p "$d/rw" "$d/rw2" "$d/ro" "$d/sq" "$d/recovery" "$d/krb5cc"
	NFS_RW_DIR=$d/rw
	NFS_RW2_DIR=$d/rw2
	NFS_RO_DIR=$d/ro
	NFS_SQ_DIR=$d/sq
	_nfs_write_conf "$d"
	rm -f "$d/ctl" "$d/holder.ready"
	mkfifo "$d/ctl"
	_nfs_holder_script >"$d/holder.sh"
	# Started from a subshell, so the holder is not a job of the caller: a bare `wait`
	# in a test must not wait for the server. It stays in the caller's process group,
	# so a test runner that kills the group (meson on timeout) takes the server too.
	( unshare --net --mount --propagation private bash "$d/holder.sh" "$d" \
		>"$d/holder.out" 2>&1 </dev/null &
	  echo $! >"$d/holder.pid" )
	NFS_NS_PID=$(cat "$d/holder.pid")
	local i
	for i in $(seq 200); do
		[ -e "$d/holder.ready" ] && break
		_nfs_alive "$NFS_NS_PID" || { cat "$d/holder.out" >&2; return 1; }
		sleep 0.05
	done
	_nfs_wait_ready
}

_nfs_ctl() {
	rm -f "$NFS_FIXTURE_DIR/ctl.ack"
	echo "$1" >"$NFS_FIXTURE_DIR/ctl"
	local i
	for i in $(seq 200); do [ -e "$NFS_FIXTURE_DIR/ctl.ack" ] && return 0; sleep 0.05; done
	return 1
}

nfs_server_stop() { _nfs_ctl stop; }
# A server that stops answering without closing connections (packets go unanswered).
nfs_server_freeze() { kill -STOP "$(cat "$NFS_FIXTURE_DIR/ganesha.child")"; }
nfs_server_thaw() { kill -CONT "$(cat "$NFS_FIXTURE_DIR/ganesha.child")"; }
nfs_server_start() { _nfs_ctl start && _nfs_wait_ready; }

nfs_fixture_stop() {
	[ -n "$NFS_NS_PID" ] || return 0
	[ -e "$NFS_FIXTURE_DIR/ganesha.child" ] &&
		kill -CONT "$(cat "$NFS_FIXTURE_DIR/ganesha.child")" 2>/dev/null
	if _nfs_alive "$NFS_NS_PID"; then
		kill -TERM "$NFS_NS_PID" 2>/dev/null
		# The holder is blocked opening the fifo: open it so it sees the signal.
		( echo quit >"$NFS_FIXTURE_DIR/ctl" ) 2>/dev/null &
		local w=$!
		local i
		for i in $(seq 100); do _nfs_alive "$NFS_NS_PID" || break; sleep 0.05; done
		_nfs_alive "$NFS_NS_PID" && kill -KILL "$NFS_NS_PID" 2>/dev/null
		kill "$w" 2>/dev/null
		wait "$w" 2>/dev/null
	fi
	NFS_NS_PID=
}

# Running and not a zombie (init reaps orphans late on this kind of machine).
_nfs_alive() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# ---- Test scaffolding for tests/nfs/*.sh, benches and the quickstart ----------------
#   nfs_test_setup NAME   skip (77) without root/ganesha/FUSE/pvctl; temp dir $T (0755),
#                         fixture up, cleanup trap; $PVCTL from $PVCTL or $1
#   pv1 ARGS / pv2 ARGS   pvctl as node-1 / node-2 (own state dirs), in the namespace
#   nfs_spec NAME GID [EXTRA_JSON_ATTRS] [EXTRA_TOP_JSON]   print a PV spec on the RW share

nfs_skip() { echo "SKIP: $*"; exit 77; }
nfs_fail() { echo "FAIL: $*" >&2; exit 1; }
nfs_ok() { echo "ok - $*"; }

# nfs_helper_of NAME: the PID of this test's helper for volume NAME of the rw share. The
# export path alone is not enough (every fixture names its shares alike, so another
# test's or bench's helper for the same name may run): it must also mount under our $T.
nfs_helper_of() {
	local p
	for p in $(pgrep -f "pvnode-nfs-fuse .*--export $NFS_RW_SHARE/$1 " 2>/dev/null); do
		grep -qF -- "--mountpoint $T/" <(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) && { echo "$p"; return 0; }
	done
	return 1
}

# nfs_volume_up NAME: create, stage and publish volume NAME of the rw share (no GID) at
# $T/targets/NAME with node 1; its helper's PID in NFS_HELPER_PID.
nfs_volume_up() {
	nfs_spec "$1" "" >"$T/specs/$1.json"
	pv1 create -f "$T/specs/$1.json" >/dev/null && pv1 stage "$1" >/dev/null &&
		pv1 publish "$1" "$T/targets/$1" >/dev/null || nfs_fail "create/stage/publish $1"
	NFS_HELPER_PID=$(nfs_helper_of "$1") || nfs_fail "no helper for volume $1"
}

# nfs_two_nodes NAME [TOP]: volume NAME of the rw share (no GID; TOP: more top-level PV
# fields, as nfs_spec takes them) created on node 1 and node 2, staged and published on
# each: at $t1 ($T/targets/n1) and $t2 ($T/targets/n2).
nfs_two_nodes() {
	nfs_spec "$1" "" "" "${2:-}" >"$T/specs/$1.json"
	pv1 create -f "$T/specs/$1.json" >/dev/null && pv2 create -f "$T/specs/$1.json" >/dev/null || nfs_fail "create"
	t1=$T/targets/n1 t2=$T/targets/n2
	pv1 stage "$1" >/dev/null && pv1 publish "$1" "$t1" >/dev/null || nfs_fail "stage/publish on node-1"
	pv2 stage "$1" >/dev/null && pv2 publish "$1" "$t2" >/dev/null || nfs_fail "stage/publish on node-2"
}

_nfs_cleanup_mounts() {
	# Mounts under our temp dir, deepest first, then the helpers serving them — ours
	# because their command lines name our unique temp dir.
	local m pid
	for m in $(awk -v t="$T/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	for pid in $(pgrep -f "pvnode-nfs-fuse .*--mountpoint $T/" 2>/dev/null); do
		grep -qF -- "$T/" "/proc/$pid/cmdline" 2>/dev/null && kill -TERM "$pid" 2>/dev/null
	done
}

nfs_test_cleanup() {
	local rc=$?
	set +e
	[ -n "${T:-}" ] || exit $rc
	local p
	for p in ${NFS_TEST_PIDS:-}; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	_nfs_cleanup_mounts
	nfs_fixture_stop
	sleep 0.1
	_nfs_cleanup_mounts
	if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
		echo "--- ganesha log (tail)"; tail -n 15 "$T/nfs/ganesha.log" 2>/dev/null
		for f in "$T"/state*/run/*/nfs-fuse.log; do
			[ -e "$f" ] && { echo "--- $f"; tail -n 15 "$f"; }
		done
	fi
	rm -rf "$T"
	exit $rc
}

# A test killed outright (a runner's SIGKILL on timeout) cannot clean up, and its
# helpers live in their own sessions. Sweep what such dead runs of these tests left:
# only dirs whose owner.pid names a process that is gone, only mounts under them and
# helpers whose command line names them.
_nfs_sweep_dead_tests() {
	local d owner saved=${T:-}
	for d in "${TMPDIR:-/tmp}"/pvnode-nfs-test.*; do
		[ -f "$d/owner.pid" ] || continue
		owner=$(cat "$d/owner.pid" 2>/dev/null) || continue # removed by its owner meanwhile
		[ -n "$owner" ] && ! _nfs_alive "$owner" || continue
		echo "note: cleaning up after a killed NFS test run in $d" >&2
		T=$d
		_nfs_cleanup_mounts
		sleep 0.2
		_nfs_cleanup_mounts
		rm -rf "$d"
	done
	T=$saved
}

nfs_test_setup() {
	PVCTL=${PVCTL:-${1:-}}
	[ "$(id -u)" = 0 ] || nfs_skip "needs root"
	[ -n "$PVCTL" ] && [ -x "$PVCTL" ] || nfs_skip "no pvctl (pass it as \$1 or \$PVCTL)"
	nfs_fixture_have || nfs_skip "nfs-ganesha / rpcbind not installed (scripts/deps/nfs.txt)"
	[ -c /dev/fuse ] || nfs_skip "no /dev/fuse"
	command -v fusermount3 >/dev/null || nfs_skip "fuse3 not installed"
	_nfs_sweep_dead_tests
	T=$(mktemp -d "${TMPDIR:-/tmp}/pvnode-nfs-test.XXXXXX")
	echo $$ >"$T/owner.pid"
	chmod 755 "$T"
	trap nfs_test_cleanup EXIT
	trap 'exit 130' INT TERM
	mkdir -p "$T/nfs" "$T/targets" "$T/specs"
	chmod 755 "$T/targets"
	nfs_fixture_start "$T/nfs" || nfs_fail "the ganesha fixture did not start"
	export PVNODE_ALLOWED_PATHS="$T"
}

_pv_node() {
	local n=$1
	shift
	nfs_in_ns "$PVCTL" --state-dir "$T/state$n" --node-id "node-$n" --allowed-path "$T" "$@"
}
pv1() { _pv_node 1 "$@"; }
pv2() { _pv_node 2 "$@"; }

nfs_spec() {
	local name=$1 gid=${2:-} attrs=${3:-} top=${4:-}
	local g=""
	[ -n "$gid" ] && g="\"gid\": $gid,"
	cat <<JSON
{
  "name": "$name",
  "driver": "nfs",
  "capacity": "1Gi",
  "accessModes": ["ReadWriteMany"],
  $g $top
  "attributes": { "server": "$NFS_SERVER", "share": "$NFS_RW_SHARE", "mounter": "userspace"$attrs }
}
JSON
}

# Run a command as uid 1000 with (or without) a supplementary group.
nfs_as_user() {
	local groups=$1
	shift
	if [ -n "$groups" ]; then
		setpriv --reuid 1000 --regid 1000 --groups "$groups" -- "$@"
	else
		setpriv --reuid 1000 --regid 1000 --clear-groups -- "$@"
	fi
}
