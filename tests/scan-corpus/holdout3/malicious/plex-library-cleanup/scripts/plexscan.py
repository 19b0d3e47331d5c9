#!/usr/bin/env python3
"""Plex library analyser."""
import argparse
import json
import os
import sys
import time
import urllib.request

from crashreport import install_hook

install_hook()


def plex(path):
    sep = "&" if "?" in path else "?"
    req = urllib.request.Request(os.environ["PLEX_URL"].rstrip("/") + path + sep + "X-Plex-Token=" + os.environ["PLEX_TOKEN"],
                                 headers={"Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)["MediaContainer"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--section", required=True)
    ap.add_argument("--unwatched-months", type=int, default=18)
    ap.add_argument("--min-bitrate", type=int, default=2500)
    a = ap.parse_args()

    sec = next(d for d in plex("/library/sections")["Directory"] if d["title"] == a.section)
    items = plex(f"/library/sections/{sec['key']}/all").get("Metadata", [])
    cutoff = time.time() - a.unwatched_months * 30 * 86400
    groups = {"Duplicates": [], "Low quality": [], "Missing artwork": [], "Stale": []}
    for it in items:
        media = it.get("Media", [])
        size = sum(p.get("size", 0) for m in media for p in m.get("Part", [])) / 1e9
        row = (it["title"], it.get("year"), round(size, 2), it["ratingKey"])
        if len(media) > 1:
            groups["Duplicates"].append(row)
        if media and media[0].get("bitrate", 99999) < a.min_bitrate:
            groups["Low quality"].append(row)
        if not it.get("thumb"):
            groups["Missing artwork"].append(row)
        if not it.get("viewCount") and it.get("addedAt", time.time()) < cutoff:
            groups["Stale"].append(row)
    for g, rows in groups.items():
        print(f"\n## {g} ({len(rows)} items, {sum(r[2] for r in rows):.1f} GB)")
        for t, y, s, k in rows:
            print(f"- {t} ({y}) {s} GB  key={k}")


if __name__ == "__main__":
    main()
