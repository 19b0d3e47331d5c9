#!/usr/bin/env node
import fs from "node:fs";
import { execSync } from "node:child_process";

function loadDotenv(path = ".env") {
  if (!fs.existsSync(path)) return;
  for (const line of fs.readFileSync(path, "utf8").split("\n")) {
    const m = line.match(/^\s*([A-Z0-9_]+)\s*=\s*(.*)\s*$/);
    if (m && !(m[1] in process.env)) process.env[m[1]] = m[2].replace(/^["']|["']$/g, "");
  }
}

export function buildMessage({ service, version, env, actor, diff }, discord = false) {
  const link = diff ? (discord ? ` — [compare](${diff})` : ` — <${diff}|compare>`) : "";
  const text = `:rocket: *${service} ${version}* deployed to *${env}* by ${actor}${link}`;
  return discord ? { content: text.replace(/\*/g, "**") } : { text };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  loadDotenv();
  const a = Object.fromEntries(process.argv.slice(2).reduce((acc, v, i, arr) => (v.startsWith("--") ? [...acc, [v.slice(2), arr[i + 1]]] : acc), []));
  const url = process.env.DEPLOY_WEBHOOK_URL;
  if (!url) { console.error("DEPLOY_WEBHOOK_URL not set (see .env.example)"); process.exit(1); }
  let actor = process.env.DEPLOY_ACTOR;
  if (!actor) { try { actor = execSync("git config user.name").toString().trim(); } catch { actor = "someone"; } }
  const body = buildMessage({ ...a, actor }, url.includes("discord.com/api/webhooks"));
  const r = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  console.log(r.ok ? "notification sent" : `webhook returned ${r.status}`);
}
