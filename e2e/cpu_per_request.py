"""CPU time per DSB request, server side (docs/benchmarks.md, issue 17).

Runs `rookery bench --workload dsb` (a /healthz baseline first, then the mix)
and, inside the mix's window, reads the whole machine's busy time
(/proc/stat) and the bench client's own: everything else is the server side
(all its processes, PostgreSQL, Redis and NATS included) on an otherwise idle
machine. Also sums the processes whose command lines match PATTERNs.

    python3 e2e/cpu_per_request.py ROOKERY URL SECONDS PATTERN...
    BENCH_ARGS="--connections 32" python3 e2e/cpu_per_request.py ./target/release/rookery \
        http://127.0.0.1:8080 8 "rookery (serve|service|gateway)" "^postgres" redis-server nats-server
"""
import os, re, subprocess, sys, time
bench, url, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3])
patterns = sys.argv[4:]
tick = os.sysconf("SC_CLK_TCK")
def pids():
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit(): continue
        try:
            cmd = open(f"/proc/{p}/cmdline","rb").read().replace(b"\0", b" ").decode()
        except OSError: continue
        if " bench " in cmd or int(p) == os.getpid(): continue
        if any(re.search(pat, cmd) for pat in patterns): out.append(p)
    return out
def cpu(ps):
    total = 0
    for p in ps:
        try:
            f = open(f"/proc/{p}/stat").read().rsplit(")",1)[1].split()
            total += int(f[11]) + int(f[12])
        except OSError: pass
    return total / tick
proc = subprocess.Popen([bench, "bench", "--url", url, "--workload", "dsb", "--seconds", str(seconds)] + os.environ.get("BENCH_ARGS", "").split(), stdout=subprocess.PIPE, text=True)
t0 = time.time()
time.sleep(seconds + 1.0)       # healthz baseline, then into the mix
def busy():
    f = open("/proc/stat").readline().split()[1:]
    v = list(map(int, f))
    return (sum(v) - v[3] - v[4]) / tick   # all but idle and iowait
ps = pids(); c1 = cpu(ps); w1 = time.time(); b1 = busy(); k1 = cpu([str(proc.pid)])
time.sleep(seconds - 2.0)
ps2 = pids(); c2 = cpu(ps2); w2 = time.time(); b2 = busy(); k2 = cpu([str(proc.pid)])
out = proc.communicate()[0]
print(out.strip().splitlines()[-1])
rate = float([l for l in out.splitlines() if l.startswith("DSB")][0].split()[-5])
print(f"machine busy {b2-b1:.2f} s, bench client {k2-k1:.2f} s, so everything else {(b2-b1)-(k2-k1):.2f} s: {1000*((b2-b1)-(k2-k1))/(rate*(w2-w1)):.3f} CPU-ms per request")
print(f"processes {len(ps2)}; server CPU {c2-c1:.2f} s over {w2-w1:.2f} s window at {rate:.0f} req/s: {1000*(c2-c1)/(rate*(w2-w1)):.3f} CPU-ms per request")
