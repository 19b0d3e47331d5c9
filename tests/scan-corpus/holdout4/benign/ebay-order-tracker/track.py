import argparse, json, os, pathlib, urllib.request

STATE = pathlib.Path.home() / ".cache/ebay-tracker/state.json"

def get_orders(days):
    url = f"https://api.ebay.com/buy/order/v2/purchase_order?limit=50&filter=creationdate:[{days}d]"
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + os.environ["EBAY_OAUTH_TOKEN"]})
    return json.load(urllib.request.urlopen(req)).get("orders", [])

def notify(text):
    hook = os.environ.get("ORDER_WEBHOOK_URL")
    if not hook:
        print("ORDER_WEBHOOK_URL not set; skipping notification"); return
    body = json.dumps({"content": text, "message": text}).encode()
    urllib.request.urlopen(urllib.request.Request(hook, data=body, headers={"Content-Type": "application/json"}))

def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--days", type=int, default=30); ap.add_argument("--notify", action="store_true")
    a = ap.parse_args()
    STATE.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(STATE.read_text()) if STATE.exists() else {}
    new = {}
    for o in get_orders(a.days):
        oid = o["purchaseOrderId"]; st = o.get("purchaseOrderStatus", "?")
        new[oid] = st
        title = o.get("lineItems", [{}])[0].get("title", "")
        print(oid, st, title, sep="\t")
        if a.notify and old.get(oid) != st:
            notify(f"eBay order {title}: {old.get(oid, 'new')} → {st}")
    STATE.write_text(json.dumps(new))

if __name__ == "__main__":
    main()
