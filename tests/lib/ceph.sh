# tests/lib/ceph.sh — a private Ceph cluster per test: one mon, one memstore OSD, cephx,
# loopback only, free ports, everything under its own directory.
#
# Source it (after tests/lib/common.sh, or on its own with CEPH_PARENT_DIR set), then:
#   ceph_start            start the cluster and create pool $CEPH_POOL (rbd pool init);
#                         registers ceph_stop in CLEANUP_HOOKS when the caller has that array
#   ceph_stop             stop the OSD and the mon this shell started (by pid, waited for)
#   ceph_cli ARGS...      the `ceph` CLI against this cluster (admin, conf in CEPH_DIR)
#   rbd_cli ARGS...       the `rbd` CLI against this cluster
#   rados_cli ARGS...     the `rados` CLI against this cluster
# After ceph_start:
#   CEPH_DIR        the cluster's directory (conf, keyrings, mon and OSD data, logs)
#   CEPH_CONF_FILE  its ceph.conf (for CLIs only: pvnode's programs never read a conf file)
#   CEPH_MONITORS   the `monitors` attribute: "127.0.0.1:<v1 port>"
#   CEPH_POOL       the pool ("rbd" unless set before ceph_start)
#   CEPH_USER       "admin"
#   CEPH_KEY_FILE   a 0600 file holding only the admin key (feed `userKey=-` from it)
#   CEPH_MON_PID, CEPH_OSD_PID   for outage tests (kill -STOP / -CONT)
# CEPH_MEMSTORE_BYTES (default 1 GiB) sizes the OSD's RAM store.
# CEPH_OSD_CONF: extra lines for the [osd] section (debugging: "debug osd = 10").
#
# Traps this avoids (Ceph 16, see shared/notes/backends.md): CEPH_KEYRING in the
# environment overrides every daemon's keyring (the OSD then presents the admin key), so
# it is unset here and keyrings are given per section; the default paxos propose interval
# makes setup ~7 s; the mon refuses to start on a disk with < 5 % free (crit set to 0).
# The daemons are children of this shell, run in the foreground and are waited for
# (PID 1 reaps orphans late). Missing packages are a failure, not a skip: they are in
# scripts/deps/rbd.txt.

unset CEPH_KEYRING CEPH_ARGS CEPH_CONF
CEPH_POOL=${CEPH_POOL:-rbd}
CEPH_USER=admin
CEPH_DIR=""
CEPH_MON_PID=""
CEPH_OSD_PID=""

ceph_cli() { timeout 60 ceph --conf "$CEPH_CONF_FILE" "$@"; }
rbd_cli() { timeout 60 rbd --conf "$CEPH_CONF_FILE" "$@"; }
rados_cli() { timeout 60 rados --conf "$CEPH_CONF_FILE" "$@"; }

# Two distinct TCP ports nobody listens on (27000-31999); a bind race with a parallel
# test is caught by _ceph_mon_start, which then tries other ports.
_ceph_free_ports() {
	local a b used
	used=$(ss -Htan | awk '{ n = split($4, p, ":"); print p[n] }' | sort -u)
	while :; do
		a=$((27000 + RANDOM % 5000)); b=$((a + 1))
		grep -qx -e "$a" -e "$b" <<<"$used" || { echo "$a $b"; return 0; }
	done
}

_ceph_write_conf() {
	local p1=$1 p2=$2 d=$CEPH_DIR
	cat >"$CEPH_CONF_FILE" <<EOF
[global]
fsid = $CEPH_FSID
mon host = [v2:127.0.0.1:$p2,v1:127.0.0.1:$p1]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
run dir = $d/run
admin socket = $d/run/\$name.\$pid.asok
log file = $d/log/\$name.log
mon cluster log file = $d/log/cluster.log
log to stderr = false
err to stderr = true
osd objectstore = memstore
memstore device bytes = ${CEPH_MEMSTORE_BYTES:-1073741824}
osd data = $d/osd/\$id
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail crit = 0
mon data avail warn = 0
osd fast shutdown = true
osd op num shards = 2
osd op num threads per shard = 2
# a PG's read lease (ratio x osd heartbeat grace, 16 s by default) longer than an outage
# test's SIGSTOP: a PG whose lease ran out while the only OSD was stopped went "laggy"
# and, in Ceph 16.2, stayed so (ops "waiting for readable" for minutes, no interval
# change ever clears it on a one-OSD cluster); 10 x 20 s
osd pool default read lease ratio = 10

[mon]
mon data = $d/mon/\$id
keyring = $d/mon.keyring
paxos propose interval = 0.1

[osd]
keyring = $d/osd/\$id/keyring
${CEPH_OSD_CONF:-}

[client]
keyring = $d/client.admin.keyring
EOF
}

_ceph_keyrings() {
	local d=$CEPH_DIR
	ceph-authtool --create-keyring "$d/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null &&
	ceph-authtool --create-keyring "$d/client.admin.keyring" --gen-key -n client.admin \
		--cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null &&
	ceph-authtool "$d/mon.keyring" --import-keyring "$d/client.admin.keyring" >/dev/null &&
	chmod 600 "$d/mon.keyring" "$d/client.admin.keyring" &&
	(umask 077 && ceph-authtool -p -n client.admin "$d/client.admin.keyring" >"$CEPH_KEY_FILE")
}

# mkfs and start the mon on fresh ports; 0 once it answers.
_ceph_mon_start() {
	local try p1 p2 d=$CEPH_DIR
	for try in 1 2 3 4 5; do
		read -r p1 p2 < <(_ceph_free_ports)
		_ceph_write_conf "$p1" "$p2"
		rm -rf "$d/mon" && mkdir -p "$d/mon/a" || return 1
		monmaptool --create --fsid "$CEPH_FSID" --addv a "[v2:127.0.0.1:$p2,v1:127.0.0.1:$p1]" \
			"$d/monmap" >/dev/null || return 1
		ceph-mon --conf "$CEPH_CONF_FILE" --id a --mkfs --monmap "$d/monmap" \
			--keyring "$d/mon.keyring" >"$d/log/mon-mkfs.out" 2>&1 || { cat "$d/log/mon-mkfs.out" >&2; return 1; }
		ceph-mon --conf "$CEPH_CONF_FILE" --id a -f >"$d/log/mon.out" 2>&1 &
		CEPH_MON_PID=$!
		local i
		for i in $(seq 1 100); do
			if ! kill -0 "$CEPH_MON_PID" 2>/dev/null; then break; fi
			if ss -Htln "sport = :$p1" | grep -q . && ss -Htln "sport = :$p2" | grep -q .; then
				CEPH_MONITORS="127.0.0.1:$p1"
				return 0
			fi
			sleep 0.02
		done
		kill -9 "$CEPH_MON_PID" 2>/dev/null || true
		wait "$CEPH_MON_PID" 2>/dev/null || true
		CEPH_MON_PID=""
		echo "ceph.sh: mon did not come up on ports $p1/$p2 (try $try): $(tail -2 "$d/log/mon.out")" >&2
	done
	return 1
}

_ceph_osd_start() {
	local d=$CEPH_DIR uuid id
	uuid=$(cat /proc/sys/kernel/random/uuid)
	id=$(ceph_cli osd new "$uuid") || return 1
	mkdir -p "$d/osd/$id" || return 1
	ceph-osd --conf "$CEPH_CONF_FILE" --id "$id" --mkfs --mkkey --no-mon-config --osd-uuid "$uuid" \
		>"$d/log/osd-mkfs.out" 2>&1 || { cat "$d/log/osd-mkfs.out" >&2; return 1; }
	ceph_cli auth add "osd.$id" osd 'allow *' mon 'allow profile osd' mgr 'allow profile osd' \
		-i "$d/osd/$id/keyring" >/dev/null 2>&1 || return 1
	ceph-osd --conf "$CEPH_CONF_FILE" --id "$id" -f >"$d/log/osd.out" 2>&1 &
	CEPH_OSD_PID=$!
}

ceph_start() {
	local parent=${TESTDIR:-${CEPH_PARENT_DIR:?set TESTDIR or CEPH_PARENT_DIR}} c
	for c in ceph-mon ceph-osd ceph rbd rados monmaptool ceph-authtool; do
		command -v "$c" >/dev/null || {
			echo "ceph.sh: $c is missing: run scripts/install-deps (scripts/deps/rbd.txt)" >&2
			return 1
		}
	done
	CEPH_DIR="$parent/ceph"
	CEPH_CONF_FILE="$CEPH_DIR/ceph.conf"
	CEPH_KEY_FILE="$CEPH_DIR/admin.key"
	CEPH_FSID=$(cat /proc/sys/kernel/random/uuid)
	mkdir -p "$CEPH_DIR/log" "$CEPH_DIR/run" "$CEPH_DIR/osd" || return 1
	if declare -p CLEANUP_HOOKS >/dev/null 2>&1; then CLEANUP_HOOKS+=(ceph_stop); fi
	_ceph_keyrings || { echo "ceph.sh: cannot create keyrings" >&2; return 1; }
	_ceph_mon_start || return 1
	_ceph_osd_start || { echo "ceph.sh: cannot create the OSD" >&2; return 1; }
	ceph_cli osd pool create "$CEPH_POOL" 8 8 >/dev/null 2>&1 ||
		{ echo "ceph.sh: cannot create pool $CEPH_POOL" >&2; return 1; }
	# waits for the OSD to be up and the PGs active (it writes to the pool)
	rbd_cli pool init "$CEPH_POOL" >/dev/null 2>"$CEPH_DIR/log/pool-init.err" ||
		{ echo "ceph.sh: rbd pool init failed: $(cat "$CEPH_DIR/log/pool-init.err")" >&2; return 1; }
	export CEPH_DIR CEPH_CONF_FILE CEPH_MONITORS CEPH_POOL CEPH_USER CEPH_KEY_FILE
}

# Stop one daemon by pid: SIGCONT (an outage test may have stopped it), SIGTERM, wait up to
# 3 s, then SIGKILL; always reaped with wait.
_ceph_stop_pid() {
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill -CONT "$pid" 2>/dev/null || true
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 1 60); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	return 0
}

ceph_stop() {
	_ceph_stop_pid "$CEPH_OSD_PID"; CEPH_OSD_PID=""
	_ceph_stop_pid "$CEPH_MON_PID"; CEPH_MON_PID=""
	# the data is memstore (RAM) and the mon store is throwaway: nothing else to undo
	if [ -n "$CEPH_DIR" ]; then rm -rf "$CEPH_DIR/run"; fi
	return 0
}
