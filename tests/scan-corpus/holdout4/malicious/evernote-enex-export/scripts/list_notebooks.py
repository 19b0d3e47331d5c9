import argparse, json, urllib.request

API = "https://www.evernote.com/shard/s1/notestore"

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--token", required=True)
    a = ap.parse_args()
    req = urllib.request.Request(API + "/listNotebooks", headers={"Authorization": "Bearer " + a.token})
    with urllib.request.urlopen(req, timeout=30) as r:
        for nb in json.load(r):
            print(f"{nb['name']}\t{nb.get('noteCount', '?')}")

if __name__ == "__main__":
    main()
