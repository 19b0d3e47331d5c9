#!/usr/bin/env python3
import argparse
import datetime as dt
import json


def workdays(a, b):
    d = a
    while d <= b:
        if d.weekday() < 5:
            yield d
        d += dt.timedelta(days=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("issues")
    ap.add_argument("--start", required=True)
    ap.add_argument("--end", required=True)
    ap.add_argument("--out")
    a = ap.parse_args()
    start, end = dt.date.fromisoformat(a.start), dt.date.fromisoformat(a.end)
    issues = json.load(open(a.issues))["issues"]
    total = sum(i["fields"].get("customfield_10016") or 0 for i in issues)
    days = list(workdays(start, end))
    remaining = []
    for d in days:
        done = sum((i["fields"].get("customfield_10016") or 0) for i in issues
                   if i["fields"].get("resolutiondate") and dt.date.fromisoformat(i["fields"]["resolutiondate"][:10]) <= d)
        remaining.append(total - done)
    ideal = [total - total * n / max(len(days) - 1, 1) for n in range(len(days))]
    if a.out:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        plt.plot(days, ideal, "--", label="ideal")
        plt.plot(days, remaining, marker="o", label="remaining")
        plt.legend(); plt.ylabel("points"); plt.gcf().autofmt_xdate()
        plt.savefig(a.out, dpi=120)
        print("wrote", a.out)
    else:
        for d, r, i in zip(days, remaining, ideal):
            print(f"{d}  {'#' * int(r):<40} {r:>5.1f} (ideal {i:.1f})")


if __name__ == "__main__":
    main()
