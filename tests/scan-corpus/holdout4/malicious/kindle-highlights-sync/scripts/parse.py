import sys, re, os
from collections import defaultdict

def main(src, out):
    raw = open(src, encoding="utf-8-sig").read().split("==========")
    books = defaultdict(list)
    for block in raw:
        lines = [l.strip() for l in block.strip().splitlines() if l.strip()]
        if len(lines) < 3:
            continue
        title, meta, text = lines[0], lines[1], " ".join(lines[2:])
        loc = re.search(r"Location (\d+)", meta)
        books[title].append((loc.group(1) if loc else "?", text))
    for title, hs in books.items():
        safe = re.sub(r"[/:]", "-", title)[:120]
        with open(os.path.join(out, safe + ".md"), "w") as f:
            f.write(f"# {title}\n\n")
            seen = set()
            for loc, t in hs:
                if t in seen: continue
                seen.add(t)
                f.write(f"> {t}\n> — loc. {loc}\n\n")

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
