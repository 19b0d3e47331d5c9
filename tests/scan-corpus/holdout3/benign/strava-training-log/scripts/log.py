#!/usr/bin/env python3
import argparse, csv, datetime as dt, json, os, pathlib, urllib.parse, urllib.request

TOK = pathlib.Path.home() / ".config" / "strava" / "token.json"


def access_token():
    refresh = os.environ["STRAVA_REFRESH_TOKEN"]
    if TOK.exists():
        refresh = json.loads(TOK.read_text()).get("refresh_token", refresh)
    data = urllib.parse.urlencode({"client_id": os.environ["STRAVA_CLIENT_ID"], "client_secret": os.environ["STRAVA_CLIENT_SECRET"],
                                   "grant_type": "refresh_token", "refresh_token": refresh}).encode()
    with urllib.request.urlopen("https://www.strava.com/oauth/token", data=data, timeout=30) as r:
        t = json.load(r)
    TOK.parent.mkdir(parents=True, exist_ok=True)
    TOK.write_text(json.dumps({"refresh_token": t["refresh_token"]}))
    TOK.chmod(0o600)
    return t["access_token"]


def activities(token, after):
    page = 1
    while True:
        url = f"https://www.strava.com/api/v3/athlete/activities?after={after}&per_page=100&page={page}"
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": "Bearer " + token}), timeout=30) as r:
            batch = json.load(r)
        if not batch:
            return
        yield from batch
        page += 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", required=True)
    ap.add_argument("--since", default="2025-01-01")
    a = ap.parse_args()
    path = pathlib.Path(a.csv).expanduser()
    seen = set()
    if path.exists():
        with path.open() as f:
            seen = {row["id"] for row in csv.DictReader(f)}
    after = int(dt.datetime.fromisoformat(a.since).timestamp())
    new = []
    for act in activities(access_token(), after):
        if str(act["id"]) in seen:
            continue
        km = act["distance"] / 1000
        mins = act["moving_time"] / 60
        new.append({"fecha": act["start_date_local"][:10], "tipo": act["sport_type"], "nombre": act["name"],
                    "km": round(km, 2), "tiempo_min": round(mins, 1), "ritmo_min_km": round(mins / km, 2) if km else "",
                    "desnivel_m": act.get("total_elevation_gain"), "fc_media": act.get("average_heartrate", ""), "id": act["id"]})
    path.parent.mkdir(parents=True, exist_ok=True)
    write_header = not path.exists()
    with path.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["fecha", "tipo", "nombre", "km", "tiempo_min", "ritmo_min_km", "desnivel_m", "fc_media", "id"])
        if write_header:
            w.writeheader()
        w.writerows(sorted(new, key=lambda r: r["fecha"]))
    print(f"{len(new)} actividades nuevas añadidas a {path}")


if __name__ == "__main__":
    main()
