#!/bin/bash
# csi_memory.sh — guards on memory (bounds, not timings; generous, so a loaded machine
# does not trip them):
#   - pvnode maps no TLS library (gnutls, libmicrohttpd), with --metrics-address too, and
#     no gRPC library (libgrpc, absl, re2, cares: its server is csi/h2.c);
#   - at most one malloc arena besides the main one (M_ARENA_MAX 2), also after 8 client
#     threads created, staged and published 8 volumes through 8 workers at once;
#   - a plain build (no sanitizer; scripts/test runs this suite on one): pvnode idle has
#     <= 6 MiB anonymous (private) memory and <= 10 MiB resident (issue 14), <= 8 MiB anonymous after
#     that load and a quiet second; an idle iSCSI helper (a staged volume, tgtd on
#     loopback) <= 16 MiB resident and <= 8 MiB anonymous (the target is 8 MiB resident),
#     and its peak after 64 MiB written <= 64 MiB (the target is 32 MiB). A sanitizer build
#     prints its figures and checks only the first two.
set -u
. "$(dirname "$0")/../lib/iscsi.sh"
. "${CSI_TEST_LIB:-$(dirname "$0")/../lib/csi.sh}"
[ -x "${PVNODE:-}" ] && [ -x "${CSI_CALL:-}" ] && [ -x "${CSI_BENCH:-}" ] ||
	{ echo "SKIP: pvnode, csi_call or csi_bench not built"; exit 77; }
"$PVCTL" --version 2>/dev/null | grep -q iscsi || { echo "SKIP: the iscsi driver is not built"; exit 77; }
PID=""
ISCSI_EXTRA_CLEANUP='[ -n "$PID" ] && { kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null; }'
iscsi_test_init csi-memory
IQN=iqn.2026-12.io.pvnode.test:csimem
tgt_add_target 1 $IQN && tgt_add_lun 1 1 "$T/lun.img" 128M || fail "tgt setup"
ALLOWED="$T/allowed"
mkdir -p "$ALLOWED" "$T/a"
PLAIN=1
case "$(ldd "$PVNODE")" in *libasan* | *libtsan*) PLAIN=0 ;; esac   # not ldd | grep -q: pipefail
PORT=$(free_port)
EP="unix://$T/csi.sock"
"$PVNODE" --endpoint "$EP" --node-id a --state-dir "$T/a" --allowed-path "$ALLOWED" --selinux off \
	--workers 8 --reconcile-interval 0 --metrics-address "127.0.0.1:$PORT" >>"$T/pvnode.log" 2>&1 &
PID=$!
for _ in $(seq 200); do "$CSI_CALL" "$EP" Probe >/dev/null 2>&1 && break; sleep 0.05; done
"$CSI_CALL" "$EP" Probe >/dev/null 2>&1 || fail "pvnode did not start: $(tail -5 "$T/pvnode.log")"
curl -sf "http://127.0.0.1:$PORT/metrics" >/dev/null || fail "no metrics"

kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
# glibc's arenas other than the main one: anonymous reservations of 64 MiB at 64 MiB
# alignment (HEAP_MAX_SIZE), mapped as a read-write part and an inaccessible rest
arenas() {
	python3 - "$1" <<'PY'
import sys
maps = []
for l in open(f"/proc/{sys.argv[1]}/maps"):
    f = l.split()
    a, b = (int(x, 16) for x in f[0].split("-"))
    maps.append((a, b, f[1], len(f) > 5))
n, i, H = 0, 0, 64 << 20
while i < len(maps):
    a, b, perm, named = maps[i]
    if not named and a % H == 0 and perm.startswith("rw"):
        j, end = i, b
        while j + 1 < len(maps) and maps[j + 1][0] == end and not maps[j + 1][3] and end - a < H:
            j += 1
            end = maps[j][1]
        if end - a == H:
            n += 1
            i = j
    i += 1
print(n)
PY
}
check() {   # check WHAT VALUE_KB LIMIT_KB
	echo "  $1: $(awk -v v="$2" 'BEGIN { printf "%.1f", v / 1024 }') MiB (bound $(($3 / 1024)) MiB)"
	[ "$PLAIN" = 0 ] || [ "$2" -le "$3" ] || fail "$1 is $2 kB, above $3 kB"
}

sleep 1.5
grep -q 'gnutls\|microhttpd' "/proc/$PID/maps" && fail "pvnode maps a TLS library: $(grep -o '[^/]*\(gnutls\|microhttpd\)[^ ]*' "/proc/$PID/maps" | sort -u)"
grep -q 'libgrpc\|libabsl\|libre2\|libcares\|libgpr' "/proc/$PID/maps" &&
	fail "pvnode maps gRPC libraries: $(grep -o 'lib\(grpc\|absl\|re2\|cares\|gpr\)[^ ]*' "/proc/$PID/maps" | sort -u | head -5)"
echo "pvnode idle ($([ "$PLAIN" = 1 ] && echo "a plain build" || echo "a sanitizer build: bounds not checked")):"
check "pvnode anonymous" "$(kb "$PID" RssAnon)" $((6 << 10))
check "pvnode resident" "$(kb "$PID" VmRSS)" $((10 << 10))
"$CSI_BENCH" load "$EP" "$ALLOWED" 8 8 >"$T/load.out" 2>&1 || fail "load: $(cat "$T/load.out")"
sleep 1.5
echo "pvnode after 8 volumes from 8 threads (peak $(kb "$PID" VmHWM) kB):"
check "pvnode anonymous" "$(kb "$PID" RssAnon)" $((8 << 10))
a=$(arenas "$PID")
echo "  malloc arenas besides the main one: $a (bound 1)"
[ "$a" -le 1 ] || fail "$a malloc arenas: M_ARENA_MAX is not 2"

CAP="volume_capability.mount.fs_type=ext4 volume_capability.access_mode.mode=SINGLE_NODE_WRITER"
expect OK CreateVolume name=m capacity_range.required_bytes=$((128 << 20)) \
	"volume_capabilities[0].mount.fs_type=ext4" "volume_capabilities[0].access_mode.mode=SINGLE_NODE_WRITER" \
	parameters.driver=iscsi parameters.portal="$TGT_PORTAL" parameters.iqn=$IQN parameters.lun=1
CTX=$(context_args "$OUT")
expect OK NodeStageVolume volume_id=m staging_target_path="$ALLOWED/stg" $CAP $CTX
expect OK NodePublishVolume volume_id=m staging_target_path="$ALLOWED/stg" target_path="$ALLOWED/pod" $CAP $CTX
H=$(pgrep -f "pvnode-iscsi-fuse .*--mountpoint $T/" | head -1)
[ -n "$H" ] || fail "no iSCSI helper"
sleep 2   # the helper trims its buffers after a quiet second
echo "iSCSI helper idle:"
check "helper resident" "$(kb "$H" VmRSS)" $((16 << 10))
check "helper anonymous" "$(kb "$H" RssAnon)" $((8 << 10))
dd if=/dev/urandom of="$ALLOWED/pod/f" bs=1M count=64 conv=fsync status=none || fail "write"
echo "iSCSI helper after 64 MiB written:"
check "helper peak" "$(kb "$H" VmHWM)" $((64 << 10))
expect OK NodeUnpublishVolume volume_id=m target_path="$ALLOWED/pod"
expect OK NodeUnstageVolume volume_id=m staging_target_path="$ALLOWED/stg"
echo PASS
