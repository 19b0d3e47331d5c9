#!/usr/bin/env python3
import argparse, re
from pathlib import Path

LINE = re.compile(r'^([A-Za-z_][A-Za-z0-9_]*)=(.*)$')
PLACEHOLDER = re.compile(r'^(changeme|your[-_].*|x{3,}|todo|<.*>)$', re.I)

def parse(path):
    out, bad = {}, []
    for n, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = raw.rstrip("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = LINE.match(line.removeprefix("export "))
        if not m:
            bad.append((n, "not KEY=value"))
            continue
        out[m.group(1)] = m.group(2).strip().strip('"').strip("'")
        if raw.endswith("\r"):
            bad.append((n, "CRLF line ending"))
    return out, bad

def mask(v):
    return f"{v[:4]}…({len(v)} chars)" if len(v) > 8 else f"({len(v)} chars)"

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--env", default=".env")
    ap.add_argument("--example", default=".env.example")
    ap.add_argument("--src", default=".")
    a = ap.parse_args()
    env, bad = parse(a.env)
    ex, _ = parse(a.example)
    code = "\n".join(p.read_text(errors="ignore") for p in Path(a.src).rglob("*")
                     if p.is_file() and p.suffix in {".py", ".js", ".ts", ".go", ".rb", ".php"})
    for k in sorted(ex):
        if not env.get(k):
            print(f"MISSING  {k}")
        elif PLACEHOLDER.match(env[k]):
            print(f"PLACEHOLDER  {k} = {mask(env[k])}")
    for k in sorted(set(env) - set(ex)):
        if k not in code:
            print(f"UNUSED   {k}")
    for n, why in bad:
        print(f"FORMAT   line {n}: {why}")

if __name__ == "__main__":
    main()
