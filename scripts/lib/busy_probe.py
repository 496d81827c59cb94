"""Measures how fast a saturated server refuses: one well-behaved client at normal priority sends a
compare every 20 ms for S seconds and reports the latency of the busy answers it gets (stdlib only).
Usage: busy_probe.py URL KEY SECONDS IMAGE_A IMAGE_B"""
import base64, json, sys, time, urllib.request
url, key, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
imgs = sys.argv[4:6]
body = json.dumps({"image_a": base64.b64encode(open(imgs[0],'rb').read()).decode(), "image_b": base64.b64encode(open(imgs[1],'rb').read()).decode()}).encode()
busy, ok = [], []
end = time.time() + seconds
while time.time() < end:
    req = urllib.request.Request(url + "/v1/compare", data=body, headers={"content-type": "application/json", "authorization": "Bearer " + key})
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            r.read(); ok.append((time.perf_counter() - t) * 1e3)
    except urllib.error.HTTPError as e:
        e.read(); (busy if e.code in (429, 503) else ok).append((time.perf_counter() - t) * 1e3)
    time.sleep(0.02)
busy.sort()
q = lambda p: busy[min(len(busy) - 1, int(p * (len(busy) - 1) + 0.5))] if busy else float('nan')
print(f"probe: {len(busy)} busy answers p50 {q(0.5):.1f} ms p99 {q(0.99):.1f} ms max {busy[-1] if busy else float('nan'):.1f} ms, over 100 ms {sum(b > 100 for b in busy)}; {len(ok)} served")
