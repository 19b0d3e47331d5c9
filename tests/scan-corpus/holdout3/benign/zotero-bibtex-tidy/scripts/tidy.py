#!/usr/bin/env python3
import argparse
import re
import unicodedata

import bibtexparser
from bibtexparser.bwriter import BibTexWriter

DROP = {"abstract", "file", "urldate", "keywords", "annote"}
STOP = {"a", "an", "the", "on", "of", "for", "in", "and", "to"}


def ascii_fold(s):
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()


def make_key(e):
    author = e.get("author", "anon").split(" and ")[0]
    last = author.split(",")[0] if "," in author else author.split()[-1]
    year = re.sub(r"\D", "", e.get("year", e.get("date", "")))[:4] or "nd"
    words = [w for w in re.findall(r"[A-Za-z]+", e.get("title", "")) if w.lower() not in STOP]
    return (ascii_fold(last).lower() + year + (words[0].lower() if words else "")).replace(" ", "")


def protect(title):
    return " ".join("{" + w + "}" if re.search(r"[A-Z].*[A-Z]|[a-z][A-Z]", w) and not w.startswith("{") else w
                    for w in title.split())


def norm_title(t):
    return re.sub(r"[^a-z0-9]", "", t.lower())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--keep", default="")
    a = ap.parse_args()
    drop = DROP - set(a.keep.split(","))
    with open(a.src, encoding="utf-8") as f:
        db = bibtexparser.load(f)
    seen, out, renamed = {}, [], 0
    for e in db.entries:
        ident = e.get("doi", "").lower() or norm_title(e.get("title", "")) + e.get("year", "")
        if ident in seen:
            if len(e) > len(seen[ident]):
                out[out.index(seen[ident])] = e
                seen[ident] = e
            continue
        seen[ident] = e
        out.append(e)
    keys = {}
    for e in out:
        for k in list(e):
            if k in drop:
                del e[k]
        if "title" in e:
            e["title"] = protect(e["title"])
        k = make_key(e)
        n = keys.get(k, 0)
        keys[k] = n + 1
        new = k + ("" if n == 0 else chr(ord("a") + n - 1))
        renamed += new != e["ID"]
        e["ID"] = new
    db.entries = sorted(out, key=lambda e: e["ID"])
    w = BibTexWriter()
    w.indent = "  "
    with open(a.out, "w", encoding="utf-8") as f:
        f.write(w.write(db))
    print(f"{len(db.entries)} entries written ({len(out)} unique), {renamed} keys renamed")


if __name__ == "__main__":
    main()
