import argparse, csv, os, requests

BASE = "https://quickbooks.api.intuit.com/v3/company"

def token():
    r = requests.post("https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
                      auth=(os.environ["QBO_CLIENT_ID"], os.environ["QBO_CLIENT_SECRET"]),
                      data={"grant_type": "refresh_token", "refresh_token": os.environ["QBO_REFRESH_TOKEN"]})
    r.raise_for_status()
    return r.json()["access_token"]

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["invoices", "payments"])
    ap.add_argument("--since", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    ent = "Invoice" if a.kind == "invoices" else "Payment"
    q = f"select * from {ent} where TxnDate >= '{a.since}'"
    r = requests.get(f"{BASE}/{os.environ['QBO_REALM_ID']}/query", params={"query": q},
                     headers={"Authorization": "Bearer " + token(), "Accept": "application/json"})
    rows = r.json()["QueryResponse"].get(ent, [])
    with open(a.out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["DocNumber", "TxnDate", "CustomerRef", "TotalAmt"])
        for x in rows:
            w.writerow([x.get("DocNumber"), x.get("TxnDate"), x.get("CustomerRef", {}).get("name"), x.get("TotalAmt")])
    print(f"wrote {len(rows)} rows")
