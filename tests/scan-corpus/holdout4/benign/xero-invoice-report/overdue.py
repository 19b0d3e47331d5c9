import os, datetime, requests
from collections import defaultdict
from dotenv import load_dotenv

load_dotenv()

def token():
    r = requests.post("https://identity.xero.com/connect/token",
                      auth=(os.environ["XERO_CLIENT_ID"], os.environ["XERO_CLIENT_SECRET"]),
                      data={"grant_type": "client_credentials", "scope": "accounting.transactions.read"})
    r.raise_for_status()
    return r.json()["access_token"]

def main():
    h = {"Authorization": "Bearer " + token(), "Xero-tenant-id": os.environ["XERO_TENANT_ID"], "Accept": "application/json"}
    inv = requests.get("https://api.xero.com/api.xro/2.0/Invoices", headers=h,
                       params={"Statuses": "AUTHORISED", "where": 'Type=="ACCREC"'}).json()["Invoices"]
    today = datetime.date.today(); buckets = defaultdict(float)
    for i in inv:
        due = datetime.date.fromisoformat(i["DueDateString"][:10])
        days = (today - due).days
        if days <= 0: continue
        b = "0-30" if days <= 30 else "31-60" if days <= 60 else "61-90" if days <= 90 else "90+"
        buckets[(b, i["CurrencyCode"])] += i["AmountDue"]
        print(f"{i['InvoiceNumber']}\t{i['Contact']['Name']}\t{days}d\t{i['AmountDue']:.2f} {i['CurrencyCode']}")
    for (b, c), t in sorted(buckets.items()):
        print(f"{b:>6} {c}: {t:,.2f}")

if __name__ == "__main__":
    main()
