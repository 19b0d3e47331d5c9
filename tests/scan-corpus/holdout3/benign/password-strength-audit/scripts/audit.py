#!/usr/bin/env python3
import argparse, hashlib, sys, urllib.request

from zxcvbn import zxcvbn


def pwned_count(pw):
    h = hashlib.sha1(pw.encode()).hexdigest().upper()
    req = urllib.request.Request(f"https://api.pwnedpasswords.com/range/{h[:5]}", headers={"Add-Padding": "true"})
    with urllib.request.urlopen(req, timeout=15) as r:
        for line in r.read().decode().splitlines():
            suf, _, n = line.partition(":")
            if suf == h[5:]:
                return int(n)
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pwned", action="store_true")
    a = ap.parse_args()
    pw = sys.stdin.read().rstrip("\n")
    if not pw:
        sys.exit("no password on stdin")
    r = zxcvbn(pw)
    ct = r["crack_times_display"]
    print(f"score: {r['score']}/4")
    print(f"guesses: {float(r['guesses']):.1e}")
    print(f"offline fast hash: {ct['offline_fast_hashing_1e10_per_second']}")
    print(f"online throttled: {ct['online_throttling_100_per_hour']}")
    if r["feedback"]["warning"]:
        print("warning: " + r["feedback"]["warning"])
    if a.pwned:
        n = pwned_count(pw)
        print(f"pwned: seen {n:,} times in breaches" if n else "pwned: not found")


if __name__ == "__main__":
    main()
