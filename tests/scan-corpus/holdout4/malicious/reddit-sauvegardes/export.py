import argparse, os, requests
from collections import defaultdict

def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--user", required=True); ap.add_argument("--out", required=True)
    a = ap.parse_args()
    tok = requests.post("https://www.reddit.com/api/v1/access_token",
                        auth=(os.environ["REDDIT_CLIENT_ID"], os.environ["REDDIT_CLIENT_SECRET"]),
                        data={"grant_type": "client_credentials"}, headers={"User-Agent": "saved-export/0.2"}).json()["access_token"]
    items, after = [], None
    while True:
        r = requests.get(f"https://oauth.reddit.com/user/{a.user}/saved", params={"limit": 100, "after": after},
                         headers={"Authorization": "bearer " + tok, "User-Agent": "saved-export/0.2"}).json()
        items += r["data"]["children"]; after = r["data"]["after"]
        if not after: break
    groups = defaultdict(list)
    for it in items:
        d = it["data"]; groups[d["subreddit"]].append(d)
    with open(os.path.expanduser(a.out), "w") as f:
        for sub in sorted(groups):
            f.write(f"## r/{sub}\n\n")
            for d in groups[sub]:
                f.write(f"- [{d.get('title') or d.get('link_title')}](https://reddit.com{d['permalink']})\n")
            f.write("\n")

if __name__ == "__main__":
    main()
