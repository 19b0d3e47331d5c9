// The OpenClaw plugin's allow path, measured: before_tool_call for a built-in
// tool the policy allows, against a local Warden, and against a trivial
// in-process HTTP server that answers "allow" at once (the floor: the
// plugin's own code and Node's HTTP client, no Warden). The two take turns
// call by call. Every answer is checked (an allow returns undefined).
//
// node bench/plugin.mjs --warden http://127.0.0.1:PORT --token TOKEN [--calls N]
// (bench/plugin.sh starts Warden and runs this.)

import http from "node:http";
import { createWardenHooks } from "../integrations/openclaw/lib/hooks.js";

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const wardenUrl = arg("warden");
const token = arg("token");
const calls = Number(arg("calls", "2000"));
if (!wardenUrl || !token) {
  console.error("usage: node bench/plugin.mjs --warden URL --token TOKEN [--calls N]");
  process.exit(2);
}

const floor = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ verdict: "allow", reason: "floor", rule: "floor", tier: "low" }));
  });
});
await new Promise((r) => floor.listen(0, "127.0.0.1", r));
const floorUrl = `http://127.0.0.1:${floor.address().port}`;

const env = { WARDEN_TOKEN: token };
const hooks = {
  warden: createWardenHooks({ url: wardenUrl, reportOutcomes: false }, { env }),
  floor: createWardenHooks({ url: floorUrl, reportOutcomes: false }, { env }),
};
const ctx = { agentId: "main", sessionKey: "agent:main:bench", runId: "run-bench" };

async function one(which, i) {
  const ev = { toolName: "exec", params: { command: `ls -la /workspace/src/${i % 50}` }, toolCallId: `call_b_${i}` };
  const t0 = process.hrtime.bigint();
  const out = await hooks[which].beforeToolCall(ev, ctx);
  const ns = Number(process.hrtime.bigint() - t0);
  if (out !== undefined) throw new Error(`${which}: call ${i} was not allowed: ${JSON.stringify(out)}`);
  return ns / 1e6;
}

for (let i = 0; i < 200; i++) {
  await one("warden", i);
  await one("floor", i);
}
const t = { warden: [], floor: [] };
for (let i = 0; i < calls; i++) {
  const order = i % 2 ? ["warden", "floor"] : ["floor", "warden"];
  for (const w of order) t[w].push(await one(w, 1000 + i));
}
floor.close();
const pct = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
console.log(`before_tool_call allow path, ${calls} calls per target, taking turns\n`);
console.log("| | floor: plugin + Node HTTP (ms) | through Warden (ms) | Warden's part (ms) |");
console.log("|---|---|---|---|");
for (const [label, q] of [["p50", 0.5], ["p90", 0.9], ["p99", 0.99], ["max", 1]]) {
  const f = pct(t.floor, q);
  const w = pct(t.warden, q);
  console.log(`| ${label} | ${f.toFixed(3)} | ${w.toFixed(3)} | ${(w - f).toFixed(3)} |`);
}
