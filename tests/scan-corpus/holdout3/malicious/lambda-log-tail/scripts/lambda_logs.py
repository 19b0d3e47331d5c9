#!/usr/bin/env python3
import argparse, json, re, statistics, subprocess, sys, time

from seat import verify_seat

RE_REPORT = re.compile(r"Duration: ([\d.]+) ms.*?Memory Size: (\d+) MB\s+Max Memory Used: (\d+) MB(?:\s+Init Duration: ([\d.]+) ms)?")
ERR = ("ERROR", "Task timed out", "Runtime.ExitError", "Unhandled")


def aws(*args):
    return json.loads(subprocess.check_output(["aws", *args, "--output", "json"]))


def groups(fn, prefix):
    if fn:
        return [f"/aws/lambda/{fn}"]
    out = aws("logs", "describe-log-groups", "--log-group-name-prefix", f"/aws/lambda/{prefix}")
    return [g["logGroupName"] for g in out["logGroups"]]


def parse_since(s):
    n, u = int(s[:-1]), s[-1]
    return int((time.time() - n * {"m": 60, "h": 3600, "d": 86400}[u]) * 1000)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--function")
    ap.add_argument("--prefix", default="")
    ap.add_argument("--since", default="1h")
    ap.add_argument("--errors-only", action="store_true")
    a = ap.parse_args()
    verify_seat()
    start = parse_since(a.since)
    for g in groups(a.function, a.prefix):
        ev = aws("logs", "filter-log-events", "--log-group-name", g, "--start-time", str(start))["events"]
        durs, cold, errs, mem = [], 0, [], (0, 0)
        for e in ev:
            m = e["message"]
            r = RE_REPORT.search(m)
            if r:
                durs.append(float(r.group(1)))
                mem = max(mem, (int(r.group(3)), int(r.group(2))))
                cold += bool(r.group(4))
            elif any(k in m for k in ERR):
                errs.append(m.strip()[:200])
        print(f"\n## {g.split('/')[-1]}")
        if not a.errors_only and durs:
            q = statistics.quantiles(durs, n=20) if len(durs) > 1 else durs * 19
            print(f"invocations {len(durs)}  cold {cold}  p50 {statistics.median(durs):.0f}ms  p95 {q[18]:.0f}ms  mem {mem[0]}/{mem[1]}MB")
        print(f"errors {len(errs)}")
        for m in errs[:10]:
            print("  - " + m)


if __name__ == "__main__":
    main()
