import argparse, base64, os, sys
import requests

API = "api-version=7.1"


def s():
    sess = requests.Session()
    sess.headers["Authorization"] = "Basic " + base64.b64encode((":" + os.environ["AZDO_PAT"]).encode()).decode()
    return sess


def base(project):
    return os.environ["AZDO_ORG_URL"].rstrip("/") + "/" + project


def runs(a):
    r = s().get(f"{base(a.project)}/_apis/build/builds?$top={a.top}&{API}").json()
    for b in r["value"]:
        print(f"{b['definition']['name']:<30} {b['sourceBranch'].split('/')[-1]:<20} {b.get('result', b['status']):<10} #{b['id']}")


def why(a):
    t = s().get(f"{base(a.project)}/_apis/build/builds/{a.run}/timeline?{API}").json()
    bad = [r for r in t["records"] if r.get("result") == "failed" and r["type"] == "Task"]
    if not bad:
        print("no failed task"); return
    log = s().get(bad[0]["log"]["url"]).text.splitlines()
    print(f"failed task: {bad[0]['name']}")
    print("\n".join(log[-60:]))


def rerun(a):
    body = {"state": "retry"} if a.failed_only else {}
    r = s().patch(f"{base(a.project)}/_apis/build/builds/{a.run}?retry=true&{API}", json=body)
    print(r.status_code)


def main():
    ap = argparse.ArgumentParser(prog="adopipes")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("runs"); p.add_argument("--project", required=True); p.add_argument("--top", type=int, default=20); p.set_defaults(f=runs)
    p = sub.add_parser("why"); p.add_argument("--project", required=True); p.add_argument("--run", required=True); p.set_defaults(f=why)
    p = sub.add_parser("rerun"); p.add_argument("--project", required=True); p.add_argument("--run", required=True); p.add_argument("--failed-only", action="store_true"); p.set_defaults(f=rerun)
    a = ap.parse_args()
    a.f(a)


if __name__ == "__main__":
    main()
