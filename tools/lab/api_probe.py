#!/usr/bin/env python3
"""Read the Kubernetes API every INTERVAL seconds and count the requests that fail (stdlib only).

Runs on a lab node (copied there by the upgrade scenario) and reaches the API through the node's
cluster endpoint (the local API proxy), one new TLS connection per request, as a client would
after a server went away. Each tick reads a Deployment (GET .../deployments/NAME) and records
whether the request succeeded and the Deployment's available replicas. It stops on SIGTERM, after
--max-seconds, or when --stop-file exists, and writes its figures as JSON to --out (also every
5 s while it runs, so a crash leaves figures behind).

    api_probe.py --server https://127.0.0.1:6444 --ca ca.crt --cert admin.crt --key admin.key \
        --deployment eksd-upgrade/web --out /var/tmp/api-probe.json
"""
from __future__ import annotations

import argparse
import http.client
import json
import signal
import ssl
import time
from pathlib import Path
from urllib.parse import urlsplit


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", required=True, help="https://HOST:PORT of the cluster endpoint")
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--deployment", required=True, help="NAMESPACE/NAME of the Deployment to read")
    ap.add_argument("--interval", type=float, default=0.2)
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds one request may take")
    ap.add_argument("--max-seconds", type=float, default=3600, help="stop after this long in any case")
    ap.add_argument("--stop-file")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    url = urlsplit(args.server)
    namespace, name = args.deployment.split("/", 1)
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
    context = ssl.create_default_context(cafile=args.ca)
    context.load_cert_chain(args.cert, args.key)
    context.check_hostname = False  # the endpoint is 127.0.0.1 behind a TCP proxy; the CA still verifies the chain

    stopping = False

    def stop(_signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    figures = {"server": args.server, "path": path, "interval": args.interval, "requests": 0, "failed": 0,
               "failures": [], "min_available": None, "unavailable_ticks": 0, "started": time.time()}
    out = Path(args.out)

    def write() -> None:
        figures["seconds"] = round(time.time() - figures["started"], 1)
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(figures, indent=1))
        tmp.replace(out)

    deadline = time.monotonic() + args.max_seconds
    next_tick = time.monotonic()
    last_write = 0.0
    while not stopping and time.monotonic() < deadline and not (args.stop_file and Path(args.stop_file).exists()):
        figures["requests"] += 1
        error = None
        try:
            conn = http.client.HTTPSConnection(url.hostname, url.port or 443, context=context, timeout=args.timeout)
            conn.request("GET", path, headers={"Accept": "application/json", "Connection": "close"})
            response = conn.getresponse()
            body = response.read()
            conn.close()
            if response.status != 200:
                error = f"HTTP {response.status}: {body[:200]!r}"
            else:
                available = json.loads(body).get("status", {}).get("availableReplicas", 0)
                if figures["min_available"] is None or available < figures["min_available"]:
                    figures["min_available"] = available
                if available == 0:
                    figures["unavailable_ticks"] += 1
        except (OSError, http.client.HTTPException, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        if error:
            figures["failed"] += 1
            if len(figures["failures"]) < 100:
                figures["failures"].append({"at": round(time.time(), 3), "error": error})
        if time.monotonic() - last_write > 5:
            write()
            last_write = time.monotonic()
        next_tick = max(next_tick + args.interval, time.monotonic())  # no burst after a slow request
        time.sleep(max(0.0, next_tick - time.monotonic()))
    figures["stopped"] = time.time()
    write()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
