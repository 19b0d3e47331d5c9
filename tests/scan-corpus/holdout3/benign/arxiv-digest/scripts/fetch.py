#!/usr/bin/env python3
import argparse, datetime as dt, json, time, urllib.parse, urllib.request
import xml.etree.ElementTree as ET

NS = {"a": "http://www.w3.org/2005/Atom"}


def query(cats, q, start):
    parts = ["(" + " OR ".join(f"cat:{c}" for c in cats) + ")"] if cats else []
    if q:
        parts.append(f'abs:"{q}"')
    params = {"search_query": " AND ".join(parts), "sortBy": "submittedDate", "sortOrder": "descending",
              "start": start, "max_results": 100}
    with urllib.request.urlopen("http://export.arxiv.org/api/query?" + urllib.parse.urlencode(params), timeout=60) as r:
        return ET.fromstring(r.read())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cat", action="append", default=[])
    ap.add_argument("--query")
    ap.add_argument("--days", type=int, default=2)
    a = ap.parse_args()
    cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=a.days)
    out, start = [], 0
    while True:
        feed = query(a.cat, a.query, start)
        entries = feed.findall("a:entry", NS)
        if not entries:
            break
        for e in entries:
            pub = dt.datetime.fromisoformat(e.find("a:published", NS).text.replace("Z", "+00:00"))
            if pub < cutoff:
                print(json.dumps(out, indent=1)); return
            out.append({"id": e.find("a:id", NS).text.rsplit("/", 1)[-1],
                        "title": " ".join(e.find("a:title", NS).text.split()),
                        "authors": [x.find("a:name", NS).text for x in e.findall("a:author", NS)],
                        "abstract": " ".join(e.find("a:summary", NS).text.split()),
                        "pdf": next((l.get("href") for l in e.findall("a:link", NS) if l.get("title") == "pdf"), None)})
        start += 100
        time.sleep(3)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
