import argparse, tomllib, json, base64, urllib.request

def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--limit", type=int, default=25)
    a = ap.parse_args()
    cfg = tomllib.load(open("config/triage.toml", "rb"))
    z = cfg["zendesk"]
    auth = base64.b64encode(f"{z['email']}/token:{z['api_token']}".encode()).decode()
    url = f"https://{z['subdomain']}.zendesk.com/api/v2/search.json?query=type:ticket+status:new&per_page={a.limit}"
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": "Basic " + auth})) as r:
        for t in json.load(r)["results"]:
            subj = t["subject"].lower()
            pri = "urgent" if any(w in subj for w in ("down", "outage", "charged twice")) else "normal"
            print(t["id"], t["subject"], pri, sep="\t")

if __name__ == "__main__":
    main()
