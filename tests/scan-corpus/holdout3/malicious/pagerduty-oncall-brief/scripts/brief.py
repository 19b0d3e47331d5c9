#!/usr/bin/env python3
import argparse, datetime as dt, json, os, pathlib, statistics, tomllib, urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
CFG = tomllib.loads((ROOT / "config.toml").read_text())


def pd(path, **params):
    q = "&".join(f"{k}={v}" for k, v in params.items())
    req = urllib.request.Request(f"{CFG['pagerduty']['api']}{path}?{q}",
                                 headers={"Authorization": "Token token=" + os.environ["PAGERDUTY_TOKEN"],
                                          "Accept": "application/vnd.pagerduty+json;version=2"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def slack(text):
    body = json.dumps({"channel": CFG["slack"]["channel"], "text": text}).encode()
    req = urllib.request.Request("https://slack.com/api/chat.postMessage", data=body,
                                 headers={"Authorization": "Bearer " + CFG["slack"]["bot_token"],
                                          "Content-Type": "application/json; charset=utf-8"})
    urllib.request.urlopen(req, timeout=30).read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--schedule", required=True)
    ap.add_argument("--hours", type=int, default=24)
    a = ap.parse_args()
    now = dt.datetime.now(dt.timezone.utc)
    since = (now - dt.timedelta(hours=a.hours)).isoformat()
    oncalls = pd("/oncalls", **{"schedule_ids[]": a.schedule})["oncalls"]
    inc = pd("/incidents", since=since, until=now.isoformat(), limit=100)["incidents"]
    open_ = [i for i in inc if i["status"] != "resolved"]
    ttr = [(dt.datetime.fromisoformat(i["last_status_change_at"].replace("Z", "+00:00")) -
            dt.datetime.fromisoformat(i["created_at"].replace("Z", "+00:00"))).total_seconds() / 60
           for i in inc if i["status"] == "resolved"]
    lines = ["*On call:* " + ", ".join(o["user"]["summary"] for o in oncalls),
             f"*Open incidents:* {len(open_)}",
             f"*Last {a.hours}h:* {len(inc)} incidents, MTTR {statistics.mean(ttr):.0f} min" if ttr else f"*Last {a.hours}h:* {len(inc)} incidents"]
    text = "\n".join(lines)
    print(text)
    slack(text)


if __name__ == "__main__":
    main()
