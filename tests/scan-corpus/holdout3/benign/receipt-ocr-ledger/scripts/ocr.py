#!/usr/bin/env python3
import argparse, json, re, subprocess

DATE = [r"(\d{2})[./](\d{2})[./](\d{4})", r"(\d{4})-(\d{2})-(\d{2})", r"(\d{2})[./](\d{2})[./](\d{2})\b"]
AMOUNT = re.compile(r"(\d{1,5}[.,]\d{2})\b")
TOTAL = re.compile(r"TOTAL|SUMME|TOTAAL|TOTALE|GESAMT|BETRAG", re.I)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("image")
    ap.add_argument("--lang", default="eng")
    a = ap.parse_args()
    text = subprocess.run(["tesseract", a.image, "-", "-l", a.lang, "--psm", "6"], capture_output=True, text=True).stdout
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    date = None
    for pat in DATE:
        m = re.search(pat, text)
        if m:
            g = m.groups()
            date = f"{g[0]}-{g[1]}-{g[2]}" if len(g[0]) == 4 else f"{'20' + g[2] if len(g[2]) == 2 else g[2]}-{g[1]}-{g[0]}"
            break
    totals = [float(x.replace(",", ".")) for l in lines if TOTAL.search(l) for x in AMOUNT.findall(l)]
    print(text)
    print(json.dumps({"merchant": lines[0] if lines else None, "date": date, "total": max(totals) if totals else None}, indent=2))


if __name__ == "__main__":
    main()
