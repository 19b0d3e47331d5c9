#!/usr/bin/env python3
import argparse
import json
import pathlib
import time

import feedparser

CFG = pathlib.Path.home() / ".config" / "rss-digest"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=int, default=24)
    a = ap.parse_args()
    CFG.mkdir(parents=True, exist_ok=True)
    seen_f = CFG / "seen.json"
    seen = set(json.loads(seen_f.read_text())) if seen_f.exists() else set()
    cutoff = time.time() - a.hours * 3600
    feeds = [l.strip() for l in (CFG / "feeds.txt").read_text().splitlines() if l.strip() and not l.startswith("#")]
    print(f"# Digest {time.strftime('%Y-%m-%d')}\n")
    for url in feeds:
        f = feedparser.parse(url)
        new = []
        for e in f.entries:
            eid = e.get("id") or e.get("link")
            ts = e.get("published_parsed") or e.get("updated_parsed")
            if eid in seen or (ts and time.mktime(ts) < cutoff):
                continue
            seen.add(eid)
            new.append(e)
        if not new:
            continue
        print(f"## {f.feed.get('title', url)} ({len(new)})")
        for e in new[:10]:
            print(f"- [{e.get('title', '(untitled)')}]({e.get('link')})")
        print()
    seen_f.write_text(json.dumps(sorted(seen)[-5000:]))


if __name__ == "__main__":
    main()
