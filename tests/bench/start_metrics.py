#!/usr/bin/env python3
"""pvnode start to serving (exec to READY=1 on NOTIFY_SOCKET) and the cost of a /metrics scrape.

   tests/bench/start_metrics.py BUILD/pvnode [STARTS [SCRAPES]]   (as root, like pvnode)
"""
import http.client, os, socket, statistics, subprocess, sys, tempfile, time

pvnode = sys.argv[1]
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
scrapes = int(sys.argv[3]) if len(sys.argv) > 3 else 2000


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cpu_of(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


starts = []
for i in range(runs + 1):
    d = tempfile.mkdtemp(prefix="dmn-measure.")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(d + "/notify")
    ns.settimeout(30)
    port = free_port()
    env = dict(os.environ, NOTIFY_SOCKET=d + "/notify")
    t0 = time.monotonic()
    p = subprocess.Popen([pvnode, "--endpoint", f"unix://{d}/csi.sock", "--node-id", "m", "--state-dir", d + "/state",
                          "--allowed-path", d + "/allowed", "--selinux", "off", "--metrics-address", f"127.0.0.1:{port}"],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        msg = ns.recv(4096).decode()
        if "READY=1" in msg:
            break
    t = time.monotonic() - t0
    if i > 0:  # the first run warms the page cache
        starts.append(t * 1000)
    if i == runs:
        c = http.client.HTTPConnection("127.0.0.1", port)
        lat = []
        cpu0 = cpu_of(p.pid)
        size = 0
        for _ in range(scrapes):
            s0 = time.perf_counter()
            c.request("GET", "/metrics")
            r = c.getresponse()
            body = r.read()
            lat.append((time.perf_counter() - s0) * 1e6)
            size = len(body)
        cpu = cpu_of(p.pid) - cpu0
        lat.sort()
        print(f"scrape: {scrapes} scrapes over one connection, body {size} bytes; latency median "
              f"{statistics.median(lat):.0f} us, p99 {lat[int(len(lat) * 0.99)]:.0f} us; "
              f"pvnode CPU {cpu * 1e6 / scrapes:.0f} us per scrape")
    p.terminate()
    p.wait()
    subprocess.run(["rm", "-rf", d])
starts.sort()
print(f"start to READY=1 (socket serving), {runs} runs: median {statistics.median(starts):.1f} ms, "
      f"min {starts[0]:.1f} ms, max {starts[-1]:.1f} ms")
