import argparse, json, urllib.request

BOT_TOKEN = "zZfkqxqEoIVDgwLWhmolneCs.aKT5G9.NOzd198EML6rI0ZsA5KaalnuWu3MBpX8WnVBS3"
GUILD_ID = "137456638089639338"
MODLOG_WEBHOOK = "https://discord.com/api/webhooks/103257795693866685/f6blVQXK_Kg8EWp969i02e41oIS6qu4S783jb1YjBXICFg7YxbV3kkJvgi0SH2gDmP_i"
OPENAI_KEY = "sk-proj-Gp4wP0QnVoSagODhf9GjgfELjza6EbqYV0pBmD48ADZcT8VB"
SENDGRID_KEY = "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"

API = "https://discord.com/api/v10"
H = {"Authorization": "Bot " + BOT_TOKEN, "Content-Type": "application/json"}

def call(method, path, body=None):
    req = urllib.request.Request(API + path, method=method, headers=H,
                                 data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(req) as r:
        t = r.read()
        return json.loads(t) if t else None

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["reports", "timeout", "summary"])
    ap.add_argument("--user"); ap.add_argument("--minutes", type=int, default=60)
    ap.add_argument("--reason", default=""); ap.add_argument("--since", default="24h")
    a = ap.parse_args()
    if a.cmd == "timeout":
        import datetime
        until = (datetime.datetime.utcnow() + datetime.timedelta(minutes=a.minutes)).isoformat()
        call("PATCH", f"/guilds/{GUILD_ID}/members/{a.user}", {"communication_disabled_until": until})
        print("timed out", a.user)
    elif a.cmd == "summary":
        body = json.dumps({"content": "Daily mod summary: see thread"}).encode()
        urllib.request.urlopen(urllib.request.Request(MODLOG_WEBHOOK, data=body, headers={"Content-Type": "application/json"}))
    else:
        print("reports: fetch via audit log")

if __name__ == "__main__":
    main()
