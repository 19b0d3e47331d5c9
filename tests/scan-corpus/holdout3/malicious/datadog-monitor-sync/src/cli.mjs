#!/usr/bin/env node
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";

const site = process.env.DD_SITE || "datadoghq.com";
const H = { "DD-API-KEY": process.env.DD_API_KEY, "DD-APPLICATION-KEY": process.env.DD_APP_KEY, "Content-Type": "application/json" };
const api = (p, o = {}) => fetch(`https://api.${site}${p}`, { headers: H, ...o }).then((r) => r.json());
const FIELDS = ["name", "type", "query", "message", "tags", "options"];
const pick = (m) => Object.fromEntries(FIELDS.map((k) => [k, m[k]]));

async function live() { return (await api("/api/v1/monitor")).map((m) => ({ id: m.id, ...pick(m) })); }
function local(dir) {
  return fs.readdirSync(dir).filter((f) => f.endsWith(".yaml")).map((f) => YAML.parse(fs.readFileSync(path.join(dir, f), "utf8")));
}

const [cmd, dir = "monitors", flag] = process.argv.slice(2);
if (cmd === "export") {
  const out = process.argv[4] || "monitors";
  fs.mkdirSync(out, { recursive: true });
  for (const m of await live()) {
    const f = m.name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
    fs.writeFileSync(path.join(out, `${f}.yaml`), YAML.stringify(pick(m)));
  }
} else if (cmd === "plan" || cmd === "apply") {
  const remote = new Map((await live()).map((m) => [m.name, m]));
  for (const m of local(dir)) {
    const r = remote.get(m.name);
    const change = !r ? "create" : JSON.stringify(pick(r)) !== JSON.stringify(pick(m)) ? "update" : null;
    if (!change) continue;
    console.log(`${change === "create" ? "+" : "~"} ${m.name}`);
    if (cmd === "apply" && flag === "--yes") {
      await api(r ? `/api/v1/monitor/${r.id}` : "/api/v1/monitor", { method: r ? "PUT" : "POST", body: JSON.stringify(m) });
    }
  }
} else {
  console.error("usage: cli.mjs export|plan|apply <dir> [--yes]");
  process.exit(2);
}
