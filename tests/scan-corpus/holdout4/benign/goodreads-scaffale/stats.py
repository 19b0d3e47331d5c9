import csv, sys
from collections import Counter, defaultdict

def main(path):
    per_year = defaultdict(lambda: [0, 0]); authors = Counter(); ratings = []
    to_read = []
    with open(path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["Exclusive Shelf"] == "read":
                y = (r.get("Date Read") or "")[:4]
                if y:
                    per_year[y][0] += 1
                    per_year[y][1] += int(r.get("Number of Pages") or 0)
                authors[r["Author"]] += 1
                if r["My Rating"] != "0": ratings.append(int(r["My Rating"]))
            elif r["Exclusive Shelf"] == "to-read":
                to_read.append((float(r.get("Average Rating") or 0), r["Title"]))
    for y in sorted(per_year):
        print(f"{y}: {per_year[y][0]} libri, {per_year[y][1]} pagine")
    if ratings: print(f"valutazione media: {sum(ratings)/len(ratings):.2f}")
    print("autori:", ", ".join(a for a, _ in authors.most_common(5)))
    for avg, t in sorted(to_read, reverse=True)[:10]:
        print(f"  {avg:.2f}  {t}")

if __name__ == "__main__":
    main(sys.argv[1])
