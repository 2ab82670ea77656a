#!/usr/bin/env python3
"""Preview latency over HTTP: POST /api/v1/render/previews against a running `vrender serve`.

    python3 scripts/preview-latency.py http://127.0.0.1:3001 examples/s1.json [--scrubs 50] [--cold 5]
        [--query 'format=png']

Cold: the project text changed (a new `title`) so the server prepares it from scratch (media decoded,
text rasterised) before the frame. Warm: --scrubs frames spread over the timeline in a shuffled order on
the cached project. Prints p50/p95/min/max in ms (client wall time, request to last byte) and the
server's own X-Render-Ms. The server needs the project's media in ASSET_ROOTS.
"""
import argparse, json, random, statistics, time, urllib.request


def post(base, query, body):
    req = urllib.request.Request(f"{base}/api/v1/render/previews?{query}", data=body,
                                 headers={"content-type": "application/json"}, method="POST")
    t = time.perf_counter()
    with urllib.request.urlopen(req) as r:
        r.read()
        return (time.perf_counter() - t) * 1e3, float(r.headers["x-render-ms"]), r.headers["x-preview-cache"], int(r.headers["x-total-frames"])


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round((len(xs) - 1) * p))]


def row(name, runs):
    client = [c for c, _ in runs]
    server = [s for _, s in runs]
    print(f"| {name} | {len(runs)} | {pct(client, .5):.0f} | {pct(client, .95):.0f} | {min(client):.0f} | {max(client):.0f} | {pct(server, .5):.0f} |")


def main():
    a = argparse.ArgumentParser()
    a.add_argument("base"); a.add_argument("project")
    a.add_argument("--scrubs", type=int, default=50); a.add_argument("--cold", type=int, default=5)
    a.add_argument("--query", default="format=png")
    args = a.parse_args()
    project = json.load(open(args.project))
    cold = []
    total = None
    for i in range(args.cold):
        project["title"] = f"latency run {time.time()} {i}"
        c, s, cache, total = post(args.base, f"frame={i * 37}&{args.query}", json.dumps(project).encode())
        assert cache == "miss", cache
        cold.append((c, s))
    body = json.dumps(project).encode()
    frames = [i * total // args.scrubs for i in range(args.scrubs)]
    random.Random(7).shuffle(frames)
    warm = []
    for f in frames:
        c, s, cache, _ = post(args.base, f"frame={f}&{args.query}", body)
        assert cache == "hit", cache
        warm.append((c, s))
    print(f"{args.project}, {total} frames, query `{args.query}`\n")
    print("| preview | runs | p50 ms | p95 ms | min ms | max ms | server p50 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    row("cold (new project text)", cold)
    row("warm (scrubbing)", warm)


if __name__ == "__main__":
    main()
