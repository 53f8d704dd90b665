#!/usr/bin/env bash
# completion.sh — sources completion/pvctl and checks what it completes, by setting
# COMP_WORDS/COMP_CWORD/COMP_LINE/COMP_POINT as bash does and calling the completion
# function: commands, global and per-command options, volume names from
# "pvctl get -o json" of the state directory on the line (and of PVNODE_STATE_DIR),
# secret names, access modes, -o values, pvnode's drivers from "pvctl --version".
# Twice: with bash-completion's helpers loaded (when installed) and without them.
# Suite deploy; env PVNODE_SOURCE_ROOT, PVNODE_BUILD_ROOT, PVCTL.
set -u
SRC=${PVNODE_SOURCE_ROOT:?}
PVCTL=${PVCTL:-$PVNODE_BUILD_ROOT/pvctl}
T=$(mktemp -d /tmp/pvnode-completion.XXXXXX)
daemon=""
trap '[ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon"; rm -rf "$T"' EXIT
fails=0

# a catalog of two file volumes (sparse images) and a secret set, in a private state dir
mkdir -p "$T/bin" "$T/state" "$T/other"
ln -s "$PVCTL" "$T/bin/pvctl"
ln -s "$(dirname "$PVCTL")/pvnode" "$T/bin/pvnode" 2>/dev/null || true
export PATH="$T/bin:$PATH"
for v in web-data db:primary; do
	printf '{"name":"%s","driver":"file","capacity":"16Mi","accessModes":["ReadWriteOnce"]}' "$v" |
		pvctl --state-dir "$T/state" create -f - >/dev/null || { echo "FAIL: cannot create $v"; exit 1; }
done
printf '{"name":"elsewhere","driver":"file","capacity":"16Mi","accessModes":["ReadWriteOnce"]}' |
	pvctl --state-dir "$T/other" create -f - >/dev/null
pvctl --state-dir "$T/state" snapshot create web-data web-monday >/dev/null ||
	{ echo "FAIL: cannot snapshot web-data"; exit 1; }
echo secret | pvctl --state-dir "$T/state" secret set chap-a password=- >/dev/null 2>&1 ||
	pvctl --state-dir "$T/state" secret set chap-a password=x >/dev/null

# complete "LINE" [WORDS...]: the line up to the cursor; WORDS as bash splits it (at
# blanks and COMP_WORDBREAKS), default the line split at blanks (+ "" after a blank)
complete_line() {
	local line=$1
	shift
	if [ $# -gt 0 ]; then
		COMP_WORDS=("$@")
	else
		read -ra COMP_WORDS <<<"$line"
		[[ $line == *" " ]] && COMP_WORDS+=("")
	fi
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE=$line
	COMP_POINT=${#line}
	COMPREPLY=()
	local fn
	fn=$(complete -p "${COMP_WORDS[0]}" | sed -n 's/.*-F \([^ ]*\).*/\1/p')
	"$fn" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
}

# expect "LINE" "WANTED WORDS" ["NOT WANTED"] [WORDS...]
expect() {
	local line=$1 want=$2 unwanted=${3:-}
	shift 3 2>/dev/null || shift $#
	complete_line "$line" "$@"
	local got=" ${COMPREPLY[*]} " w ok=1
	for w in $want; do [[ $got == *" $w "* ]] || ok=0; done
	for w in $unwanted; do [[ $got == *" $w "* ]] && ok=0; done
	if ((ok)); then
		echo "ok ($mode): '$line' -> ${COMPREPLY[*]:0:12}"
	else
		echo "FAIL ($mode): '$line' gave [${COMPREPLY[*]}], wanted [$want]${unwanted:+, not [$unwanted]}"
		fails=$((fails + 1))
	fi
}

run_checks() {
	expect "pvctl " "create import get describe delete expand secret snapshot stage publish unpublish unstage fence-release reconcile info stats" ""
	expect "pvctl snapshot " "create list delete" "web-data"
	expect "pvctl --state-dir $T/state snapshot delete " "web-monday" "web-data create"
	expect "pvctl --state-dir $T/state snapshot create " "web-data db:primary" "web-monday"
	expect "pvctl --state-dir $T/state snapshot list -o " "table json" "k8s"
	expect "pvctl snapshot list -" "-o -v" "--force"
	expect "pvctl st" "stage stats" "create"
	expect "pvctl --ver" "--version --verbose" ""
	expect "pvctl --state-dir $T/state describe " "web-data db:primary" "elsewhere"
	expect "pvctl describe --state-dir $T/other " "elsewhere" "web-data"
	expect "pvctl --state-dir $T/st" "$T/state" "$T/other"
	expect "pvctl --state-dir $T/other stage " "elsewhere" "web-data"
	PVNODE_STATE_DIR=$T/state expect "pvctl unstage w" "web-data" "db:primary"
	expect "pvctl --state-dir $T/state publish web-data --access-mode " "RWO ROX RWX RWOP ReadWriteOnce ReadOnlyMany ReadWriteMany ReadWriteOncePod" ""
	expect "pvctl --state-dir $T/state stage web-data --" "--access-mode --staging-path --readonly --mount-flag --state-dir --endpoint" "--relabel --force"
	expect "pvctl publish web-data /tmp -" "--readonly --selinux-level --pod --relabel --mount-flag -o -v" "--force --capacity --version"
	expect "pvctl publish web-data $T/st" "$T/state" ""   # TARGET: a directory
	expect "pvctl delete x --" "--force" "--capacity"
	expect "pvctl create --" "--existing" "--dry-run"
	expect "pvctl import --" "--dry-run" "--existing"
	expect "pvctl get -o " "table json k8s" ""
	expect "pvctl --selinux " "auto on off" ""
	expect "pvctl secret " "set list delete" ""
	expect "pvctl --state-dir $T/state secret delete " "chap-a" ""
	expect "pvnode --" "--endpoint --node-id --state-dir --selinux --allowed-path --workers --reconcile-interval --log-format --default-driver" ""
	expect "pvnode --log-format " "text json" ""
	expect "pvnode --role " "all node controller" ""
	expect "pvnode --driver-name " "pvnode.csi.io block.pvnode.csi.io local.pvnode.csi.io" ""
	expect "pvnode --ro" "--role" ""
	expect "pvctl get web-data -o k8s --st" "--storage-class" ""
	local drivers
	drivers=$(pvctl --version | sed -n 's/.*(drivers: \(.*\)).*/\1/p' | tr -d ',')
	expect "pvnode --default-driver " "$drivers" ""
	# as bash splits "--selinux=o" (COMP_WORDBREAKS has '=')
	expect "pvctl --selinux=o" "on off" "auto" pvctl --selinux = o
	# over CSI: the names a running pvnode lists (ListVolumes)
	if [ -n "$daemon" ]; then
		expect "pvctl --endpoint unix://$T/csi.sock stage " "over-csi" "web-data"
	fi
}

# a pvnode on a private socket and state dir, where it is built
PVNODE=${PVNODE:-$(dirname "$PVCTL")/pvnode}
if [ -x "$PVNODE" ]; then
	mkdir -p "$T/csi-state"
	"$PVNODE" --endpoint "unix://$T/csi.sock" --node-id completion --state-dir "$T/csi-state" \
		--allowed-path "$T" --reconcile-interval 0 >"$T/pvnode.log" 2>&1 &
	daemon=$!
	for _ in $(seq 50); do [ -S "$T/csi.sock" ] && break; sleep 0.1; done
	printf '{"name":"over-csi","driver":"file","capacity":"16Mi","accessModes":["ReadWriteOnce"]}' |
		pvctl --endpoint "unix://$T/csi.sock" create -f - >/dev/null ||
		{ echo "FAIL: CreateVolume through pvnode: $(cat "$T/pvnode.log")"; exit 1; }
else
	echo "note: pvnode is not built: names over --endpoint not checked"
fi

# without bash-completion's helpers
mode=plain
# shellcheck source=/dev/null
. "$SRC/completion/pvctl"
run_checks

# with them, as an interactive shell has them
BC=""
for f in /usr/share/bash-completion/bash_completion /etc/bash_completion; do
	[ -r "$f" ] && BC=$f && break
done
if [ -n "$BC" ]; then
	mode=bash-completion
	# shellcheck source=/dev/null
	. "$BC"
	# shellcheck source=/dev/null
	. "$SRC/completion/pvctl"
	run_checks
	expect "pvctl --state-dir $T/state describe db:" "primary" "" pvctl --state-dir "$T/state" describe db :
else
	echo "note: bash-completion is not installed: its helpers were not exercised"
fi

if ((fails)); then
	echo "$fails completion(s) wrong"
	exit 1
fi
echo "all completions right"
