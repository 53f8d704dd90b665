# tests/bench/rbd_bench_frame.sh — what the RBD benches (rbd_bench.sh, rbd_ab.sh) share,
# sourced by them: tests/lib/common.sh, ceph.sh (a cluster started here, 3 GiB memstore)
# and rbd.sh; the working directory is the test's; and
#   $TESTDIR/fio.conf    the cluster's conf for fio's rbd engine, librbd's cache off as
#                        in pvnode-rbd-fuse (RBD_BENCH_RAW_CACHE=true: on)
#   img NAME             a 512 MiB image
#   fio_bw JSON KEY      MB/s of fio's JSON output (KEY read or write)
#   fio_iops JSON        write IOPS of fio's JSON output
_rbd_frame=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$_rbd_frame/../lib/common.sh"
export CEPH_MEMSTORE_BYTES=$((3 * 1024 * 1024 * 1024))
. "$_rbd_frame/../lib/ceph.sh"
. "$_rbd_frame/../lib/rbd.sh"
command -v fio >/dev/null || fail "fio is missing (scripts/deps/rbd.txt)"
ceph_start || fail "ceph_start"
cd "$TESTDIR" || fail "cd $TESTDIR"   # whatever fio lays out stays in the test's directory
sed "s/^\[client\]\$/[client]\nrbd cache = ${RBD_BENCH_RAW_CACHE:-false}/" "$CEPH_CONF_FILE" >"$TESTDIR/fio.conf"
img() { rbd_ctl "\"op\":\"create\",\"image\":\"$1\",\"size\":536870912" >/dev/null || fail "create $1"; }
fio_bw() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); k=sys.argv[2]; print("%.0f" % (sum(x[k]["bw"] for x in j["jobs"]) * 1024 / 1e6))' "$1" "$2"; }
fio_iops() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print("%.0f" % sum(x["write"]["iops"] for x in j["jobs"]))' "$1"; }
