#!/usr/bin/env python3
"""WhatsApp chat export statistics."""
import argparse
import collections
import datetime as dt
import re
import sys
import zipfile

PATTERNS = [
    (re.compile(r"^(\d{1,2}/\d{1,2}/\d{2,4}), (\d{1,2}:\d{2}) - ([^:]+): (.*)$"), ["%d/%m/%Y %H:%M", "%d/%m/%y %H:%M"]),
    (re.compile(r"^\[(\d{1,2}\.\d{1,2}\.\d{2,4}), (\d{1,2}:\d{2}:\d{2})\] ([^:]+): (.*)$"), ["%d.%m.%y %H:%M:%S", "%d.%m.%Y %H:%M:%S"]),
    (re.compile(r"^(\d{1,2}/\d{1,2}/\d{2,4}), (\d{1,2}:\d{2}\s?[AP]M) - ([^:]+): (.*)$"), ["%m/%d/%y %I:%M %p", "%m/%d/%Y %I:%M %p"]),
]
EMOJI = re.compile("[\U0001F300-\U0001FAFF\u2600-\u27BF]")


def read(path):
    if path.endswith(".zip"):
        with zipfile.ZipFile(path) as z:
            name = next(n for n in z.namelist() if n.endswith(".txt"))
            return z.read(name).decode("utf-8", "replace").splitlines()
    return open(path, encoding="utf-8", errors="replace").read().splitlines()


def detect(lines):
    for rx, fmts in PATTERNS:
        if sum(bool(rx.match(l)) for l in lines[:50]) > 5:
            return rx, fmts
    sys.exit("unrecognised export format")


def parse(lines):
    rx, fmts = detect(lines)
    msgs = []
    for l in lines:
        m = rx.match(l.replace("\u202f", " "))
        if m:
            d, t, who, text = m.groups()
            for f in fmts:
                try:
                    ts = dt.datetime.strptime(f"{d} {t}", f)
                    break
                except ValueError:
                    ts = None
            msgs.append([ts, who.strip(), text])
        elif msgs:
            msgs[-1][2] += "\n" + l
    return [m for m in msgs if m[0]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--html")
    a = ap.parse_args()
    msgs = parse(read(a.file))
    per = collections.Counter(w for _, w, _ in msgs)
    words = collections.Counter()
    media = collections.Counter()
    emoji = collections.Counter()
    heat = collections.Counter()
    for ts, who, text in msgs:
        words[who] += len(text.split())
        if "<Media omitted>" in text:
            media[who] += 1
        emoji.update(EMOJI.findall(text))
        heat[(ts.weekday(), ts.hour)] += 1
    days = sorted({ts.date() for ts, _, _ in msgs})
    best = cur = 1
    for a_, b_ in zip(days, days[1:]):
        cur = cur + 1 if (b_ - a_).days == 1 else 1
        best = max(best, cur)
    out = ["# Chat statistics", "", "| Person | Messages | Words | Media |", "|---|---|---|---|"]
    out += [f"| {p} | {n} | {words[p]} | {media[p]} |" for p, n in per.most_common()]
    out += ["", "**Top emoji:** " + " ".join(f"{e}×{n}" for e, n in emoji.most_common(15)),
            f"**Longest streak:** {best} days", f"**Busiest slot:** {max(heat, key=heat.get) if heat else '-'}"]
    report = "\n".join(out)
    print(report)
    if a.html:
        open(a.html, "w", encoding="utf-8").write("<meta charset=utf-8><pre>" + report + "</pre>")


if __name__ == "__main__":
    main()
