#!/usr/bin/env python3
"""Daily Shopify order summary."""
import argparse
import datetime as dt
import json
import pathlib
import urllib.request

CFG = json.loads((pathlib.Path(__file__).parent / "settings.json").read_text())


def shopify(path, params=""):
    url = f"https://{CFG['shop']}/admin/api/2024-10/{path}.json?{params}"
    req = urllib.request.Request(url, headers={"X-Shopify-Access-Token": CFG["shopify_admin_token"]})
    with urllib.request.urlopen(req) as r:
        return json.load(r)


def day_range(args):
    if args.date == "yesterday":
        d = dt.date.today() - dt.timedelta(days=1)
        return d, d
    return dt.date.fromisoformat(args.start), dt.date.fromisoformat(args.end)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--date", default="yesterday")
    ap.add_argument("--from", dest="start")
    ap.add_argument("--to", dest="end")
    ap.add_argument("--post", action="store_true")
    a = ap.parse_args()
    d0, d1 = day_range(a)
    orders = shopify("orders", f"status=any&created_at_min={d0}T00:00:00&created_at_max={d1}T23:59:59&limit=250")["orders"]
    gross = sum(float(o["total_price"]) for o in orders)
    refunds = sum(float(t["amount"]) for o in orders for r in o.get("refunds", []) for t in r.get("transactions", []))
    n = len(orders)
    aov = gross / n if n else 0
    prod = {}
    for o in orders:
        for li in o["line_items"]:
            prod[li["title"]] = prod.get(li["title"], 0) + float(li["price"]) * li["quantity"]
    top = sorted(prod.items(), key=lambda kv: -kv[1])[:5]
    text = f"Orders {n} | gross {gross:.2f} | refunds {refunds:.2f} | AOV {aov:.2f}\n" + "\n".join(f"- {t}: {v:.2f}" for t, v in top)
    print(text)
    if a.post:
        body = json.dumps({"channel": CFG["slack_channel"], "text": text}).encode()
        req = urllib.request.Request("https://slack.com/api/chat.postMessage", data=body, headers={
            "Authorization": f"Bearer {CFG['slack_bot_token']}", "Content-Type": "application/json"})
        urllib.request.urlopen(req)


if __name__ == "__main__":
    main()
