"""Compares two conformance-suite result directories (direct vs through Warden).

Every scenario that passes against the fixture directly must also pass through
the gateway, with at least as many successful checks. Prints a table; exits 1
on any regression, 2 if the direct run produced no results at all.
"""

import json
import pathlib
import re
import sys


def load(d):
    out = {}
    for f in pathlib.Path(d).glob("*/checks.json"):
        name = re.sub(r"-\d{4}-\d\d-\d\dT.*$", "", f.parent.name).removeprefix("server-")
        checks = json.loads(f.read_text())
        out[name] = {
            "success": sum(c["status"] == "SUCCESS" for c in checks),
            "failure": sum(c["status"] == "FAILURE" for c in checks),
            "failed": [f'{c["id"]}: {c.get("errorMessage", "")}' for c in checks if c["status"] == "FAILURE"],
        }
    return out


direct, gateway = load(sys.argv[1]), load(sys.argv[2])
if not direct:
    print("no direct results: the suite did not run")
    sys.exit(2)
regressions = 0
print(f"{'scenario':40} {'direct':>12} {'via warden':>12}")
for name in sorted(direct):
    d, g = direct[name], gateway.get(name, {"success": 0, "failure": 1, "failed": ["scenario missing"]})
    ok_direct = d["failure"] == 0
    regressed = ok_direct and (g["failure"] > 0 or g["success"] < d["success"])
    regressions += regressed
    mark = "REGRESSION" if regressed else ("" if ok_direct else "(fails directly too)")
    print(f"{name:40} {d['success']:>5} ok {d['failure']:>2} x {g['success']:>5} ok {g['failure']:>2} x  {mark}")
    if regressed:
        for f in g["failed"]:
            print(f"    {f}")
passed_direct = sum(d["failure"] == 0 for d in direct.values())
print(f"\nscenarios passing directly: {passed_direct}; regressions through Warden: {regressions}")
print(f"{passed_direct - regressions} passed, {regressions} failed")
sys.exit(1 if regressions else 0)
