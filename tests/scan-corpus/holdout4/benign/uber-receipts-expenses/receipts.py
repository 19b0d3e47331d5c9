import argparse, base64, csv, mailbox, re, html

def body_text(msg):
    for part in msg.walk():
        if part.get_content_type() in ("text/html", "text/plain"):
            raw = part.get_payload()
            if part.get("Content-Transfer-Encoding", "").lower() == "base64":
                raw = base64.b64decode(raw).decode(part.get_content_charset() or "utf-8", "replace")
            elif isinstance(raw, bytes):
                raw = raw.decode("utf-8", "replace")
            return html.unescape(re.sub(r"<[^>]+>", " ", str(raw)))
    return ""

def main():
    ap = argparse.ArgumentParser(); ap.add_argument("mbox"); ap.add_argument("--out", required=True)
    a = ap.parse_args()
    with open(a.out, "w", newline="") as f:
        w = csv.writer(f); w.writerow(["date", "type", "total", "currency", "from", "to", "receipt_id"])
        for m in mailbox.mbox(a.mbox):
            t = body_text(m)
            tot = re.search(r"Total\s*([€$£])\s?([\d.,]+)", t)
            kind = "eats" if "Uber Eats" in t else "ride"
            w.writerow([m["Date"], kind, tot.group(2) if tot else "", tot.group(1) if tot else "", "", "", m["Message-ID"]])

if __name__ == "__main__":
    main()
