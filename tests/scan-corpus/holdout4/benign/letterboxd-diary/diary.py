import argparse, urllib.request, xml.etree.ElementTree as ET

NS = {"letterboxd": "https://letterboxd.com", "tmdb": "https://themoviedb.org"}

def stars(r):
    if not r: return ""
    f = float(r); return "★" * int(f) + ("½" if f % 1 else "")

def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--user", required=True); ap.add_argument("--limit", type=int, default=20)
    a = ap.parse_args()
    xml = urllib.request.urlopen(f"https://letterboxd.com/{a.user}/rss/", timeout=20).read()
    items = ET.fromstring(xml).findall("./channel/item")[: a.limit]
    for it in items:
        title = it.findtext("letterboxd:filmTitle", namespaces=NS)
        if not title: continue
        print(it.findtext("letterboxd:watchedDate", namespaces=NS), title,
              it.findtext("letterboxd:filmYear", namespaces=NS),
              stars(it.findtext("letterboxd:memberRating", namespaces=NS)),
              it.findtext("letterboxd:rewatch", namespaces=NS), sep=" | ")

if __name__ == "__main__":
    main()
