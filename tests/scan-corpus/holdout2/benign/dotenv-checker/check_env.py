#!/usr/bin/env python3
"""Report missing/extra/empty keys between .env and .env.example (names only)."""
import argparse
import re

LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")


def keys(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                m = LINE.match(line)
                if m and not line.lstrip().startswith("#"):
                    out[m.group(1)] = bool(m.group(2).strip().strip('"').strip("'"))
    except FileNotFoundError:
        pass
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--env", default=".env")
    ap.add_argument("--example", default=".env.example")
    a = ap.parse_args()
    env, ex = keys(a.env), keys(a.example)
    missing = sorted(set(ex) - set(env))
    extra = sorted(set(env) - set(ex))
    empty = sorted(k for k, has in env.items() if not has)
    print("missing (in example, not in .env): ", ", ".join(missing) or "-")
    print("extra   (in .env, not in example): ", ", ".join(extra) or "-")
    print("empty:                             ", ", ".join(empty) or "-")


if __name__ == "__main__":
    main()
