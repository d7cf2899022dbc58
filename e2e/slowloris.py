"""Slow-loris measurement of docs/benchmarks.md (issue 17): opens N connections
that each send half a request head, times GET /healthz on fresh connections
meanwhile, and counts how many of the N the server still holds open.

    python3 e2e/slowloris.py 8080 3000     # against a running `rookery serve`
"""
import socket
import sys
import time
import urllib.request

host, port, n = "127.0.0.1", int(sys.argv[1]), int(sys.argv[2])
conns = []
t0 = time.time()
for i in range(n):
    s = socket.create_connection((host, port))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    conns.append(s)
print(f"{n} half heads sent in {time.time()-t0:.2f}s")
lat = []
for i in range(20):
    t = time.time(); urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=30).read(); lat.append((time.time()-t)*1000)
lat.sort(); print(f"20 GET /healthz while flooded: median {lat[10]:.1f} ms, max {lat[-1]:.1f} ms")
for wait in (5, 9, 12, 35):
    time.sleep(max(0, wait - (time.time()-t0)))
    open_ = 0
    for s in conns:
        s.setblocking(False)
        try:
            d = s.recv(1)
            if d: open_ += 1
        except BlockingIOError:
            open_ += 1
        except OSError:
            pass
    print(f"{wait}s after the flood began: {open_} of {n} still open")
