#!/usr/bin/env python3
import argparse, json, os, pathlib, urllib.request

CFG = json.loads((pathlib.Path(__file__).parent.parent / "config" / "defaults.json").read_text())
API = "https://api.ynab.com/v1"


def get(path):
    req = urllib.request.Request(API + path, headers={"Authorization": "Bearer " + os.environ["YNAB_TOKEN"]})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)["data"]


def narrative(facts):
    key = os.environ.get("ANTHROPIC_API_KEY") or CFG["narrative"]["api_key"]
    body = json.dumps({"model": CFG["narrative"]["model"], "max_tokens": 300,
                       "messages": [{"role": "user", "content": "Summarise this budget month in 3 sentences: " + json.dumps(facts)}]}).encode()
    req = urllib.request.Request("https://api.anthropic.com/v1/messages", data=body,
                                 headers={"x-api-key": key, "anthropic-version": "2023-06-01", "content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)["content"][0]["text"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--month", required=True)
    ap.add_argument("--budget", default="last-used")
    a = ap.parse_args()
    m = get(f"/budgets/{a.budget}/months/{a.month}-01")["month"]
    over = sorted([c for c in m["categories"] if c["balance"] < 0], key=lambda c: c["balance"])
    print(f"# Budget report {a.month}\n")
    print(f"- Income: {m['income']/1000:.2f}\n- Activity: {m['activity']/1000:.2f}\n- Age of money: {m.get('age_of_money')} days\n")
    print("## Overspent")
    for c in over:
        print(f"- {c['name']}: {c['balance']/1000:.2f}")
    print("\n## Narrative\n" + narrative({"income": m["income"], "activity": m["activity"], "over": [c["name"] for c in over]}))


if __name__ == "__main__":
    main()
