#!/bin/bash
# csi_h2_peers.sh — peers that misbehave at the HTTP/2 level, against a real pvnode:
#   - one sends PINGs and never reads the acks: pvnode stops reading it (its output is
#     bounded) and still answers Probe on another connection;
#   - one sends 4,000 one-byte DATA frames of a request: it is answered, and pvnode gives
#     window credit back in steps, not a WINDOW_UPDATE per frame;
#   - at a stop, one holds a half-sent request open and one never reads: pvnode answers
#     what was in flight, then cuts both off and exits within its 5 s grace (it waited
#     for them forever before).
set -eu
. "${CSI_TEST_LIB:-$(dirname "$0")/../lib/csi.sh}"
csi_require_root
command -v python3 >/dev/null || csi_skip "python3 is needed"
csi_setup
csi_start

cat >"$T/peer.py" <<'PY'
import socket, struct, sys, time
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
def frame(t, fl, sid, p=b""):
    return struct.pack(">I", len(p))[1:] + bytes([t, fl]) + struct.pack(">I", sid) + p
def lit(n, v):   # HPACK literal without indexing, new name
    n, v = n.encode(), v.encode()
    return b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v
def request_block(path):
    return b"\x83\x86" + lit(":path", path) + lit("content-type", "application/grpc")
def connect(ep):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(ep)
    s.sendall(PREFACE + frame(4, 0, 0))
    return s
def read_frames(s, until, limit=5.0):
    buf, out, end = b"", [], time.time() + limit
    s.settimeout(0.5)
    while time.time() < end:
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        if not d:
            break
        buf += d
        while len(buf) >= 9:
            n = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + n:
                break
            out.append((buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7fffffff, buf[9:9 + n]))
            buf = buf[9 + n:]
        if until(out):
            return out
    return out

ep, mode = sys.argv[1], sys.argv[2]
if mode == "pingflood":
    s = connect(ep)
    s.setblocking(False)
    sent = 0
    ping = frame(6, 0, 0, b"12345678") * 256
    end = time.time() + 3
    while time.time() < end:
        try:
            sent += s.send(ping)
        except BlockingIOError:
            time.sleep(0.01)
    print(sent)              # bytes pvnode took before it stopped reading
    sys.stdout.flush()
    time.sleep(float(sys.argv[3]))
elif mode == "tinydata":
    s = connect(ep)
    n = 4000
    s.sendall(frame(1, 4, 1, request_block("/csi.v1.Identity/Probe")) +
              frame(0, 0, 1, b"\x00" + struct.pack(">I", n - 5)))
    s.sendall(b"".join(frame(0, 1 if i == n - 6 else 0, 1, b"\x00") for i in range(n - 5)))
    fr = read_frames(s, lambda o: any(t == 1 and f & 1 for t, f, _, _ in o))
    wu = sum(1 for t, _, _, _ in fr if t == 8)
    done = any(t == 1 and f & 1 for t, f, _, _ in fr)
    print("answered" if done else "unanswered", wu)
elif mode == "halfsent":
    s = connect(ep)
    s.sendall(frame(1, 4, 1, request_block("/csi.v1.Identity/Probe")))   # no DATA, no END_STREAM
    print("open")
    sys.stdout.flush()
    time.sleep(float(sys.argv[3]))
PY

# 1. a PING flood that never reads: pvnode stops reading it, and serves others
rss0=$(awk '/VmRSS/ {print $2}' /proc/"$PVNODE_PID"/status)
python3 "$T/peer.py" "$T/csi.sock" pingflood 60 >"$T/flood.out" &
FLOOD=$!
EXTRA_PIDS+=("$FLOOD")   # the cleanup stops them, also on failure
for _ in $(seq 150); do [ -s "$T/flood.out" ] && break; sleep 0.1; done
took=$(head -1 "$T/flood.out")
[ -n "$took" ] || csi_fail "the PING flooder printed nothing"
# pvnode stops reading at 256 KiB of unsent acks; with the socket buffers that is well
# under 16 MiB of PINGs taken in
[ "$took" -lt 16777216 ] || csi_fail "pvnode kept reading a peer that never reads ($took bytes)"
expect OK Probe
rss=$(awk '/VmRSS/ {print $2}' /proc/"$PVNODE_PID"/status)
echo "PING flood: pvnode took $took bytes, then stopped reading; RSS $rss0 -> $rss kB"
[ $((rss - rss0)) -lt 16384 ] || csi_fail "pvnode grew by $((rss - rss0)) kB under a PING flood"

# 2. a request in 4,000 one-byte DATA frames: answered, few WINDOW_UPDATEs
read -r ans wu < <(python3 "$T/peer.py" "$T/csi.sock" tinydata)
[ "$ans" = answered ] || csi_fail "a request sent in one-byte DATA frames was not answered"
[ "$wu" -le 8 ] || csi_fail "$wu WINDOW_UPDATE frames for 4,000 one-byte DATA frames"
echo "one-byte DATA frames: answered, $wu WINDOW_UPDATE frames"

# 3. a stop with a half-sent request and a peer that never reads: exit within the grace
python3 "$T/peer.py" "$T/csi.sock" halfsent 60 >"$T/half.out" &
HALF=$!
EXTRA_PIDS+=("$HALF")
for _ in $(seq 50); do [ -s "$T/half.out" ] && break; sleep 0.1; done
t0=$(date +%s%N)
kill -TERM "$PVNODE_PID"
for _ in $(seq 150); do kill -0 "$PVNODE_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$PVNODE_PID" 2>/dev/null; then
	kill "$FLOOD" "$HALF" 2>/dev/null || true
	csi_fail "pvnode did not exit within 15 s of SIGTERM with a half-sent request and a non-reading peer open"
fi
wait "$PVNODE_PID" || true
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
kill "$FLOOD" "$HALF" 2>/dev/null || true
wait "$FLOOD" "$HALF" 2>/dev/null || true
grep -q "did not take its last answers" "$T/pvnode.log" || csi_fail "pvnode did not say why it closed the laggards"
[ ! -e "$T/csi.sock" ] || csi_fail "the socket was not removed at the stop"
echo "stop with laggards: exited after $ms ms"
echo PASS
