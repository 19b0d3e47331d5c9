// The plugin's configuration: defaults, and the same checks the manifest's
// JSON Schema makes (OpenClaw validates plugins.entries.warden.config against
// the manifest before loading us; these checks keep direct users honest too).

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const manifestPath = fileURLToPath(new URL("../openclaw.plugin.json", import.meta.url));
const schema = JSON.parse(readFileSync(manifestPath, "utf8")).configSchema;

export const DEFAULTS = Object.freeze({
  url: "http://127.0.0.1:8470",
  tokenEnv: "WARDEN_TOKEN",
  timeoutMs: 5000,
  approvalTimeoutMs: 120000,
  approvalPollMs: 25000,
  approvalMode: "hold",
  mcpServers: ["warden"],
  reportOutcomes: true,
});

export class ConfigError extends Error {}

function checkValue(path, value, s, problems) {
  if (s.type === "string") {
    if (typeof value !== "string") return problems.push(`${path}: must be a string`);
    if (s.minLength && value.length < s.minLength) problems.push(`${path}: must not be empty`);
    if (s.pattern && !new RegExp(s.pattern).test(value)) problems.push(`${path}: ${JSON.stringify(value)} is not valid`);
    if (s.enum && !s.enum.includes(value)) problems.push(`${path}: must be one of ${s.enum.join(", ")}`);
  } else if (s.type === "integer") {
    if (!Number.isInteger(value)) return problems.push(`${path}: must be an integer`);
    if (s.minimum !== undefined && value < s.minimum) problems.push(`${path}: must be at least ${s.minimum}`);
    if (s.maximum !== undefined && value > s.maximum) problems.push(`${path}: must be at most ${s.maximum}`);
  } else if (s.type === "boolean") {
    if (typeof value !== "boolean") problems.push(`${path}: must be true or false`);
  } else if (s.type === "array") {
    if (!Array.isArray(value)) return problems.push(`${path}: must be a list`);
    value.forEach((v, i) => checkValue(`${path}[${i}]`, v, s.items, problems));
  } else if (s.type === "object") {
    if (value === null || typeof value !== "object" || Array.isArray(value)) return problems.push(`${path}: must be an object`);
    for (const [k, v] of Object.entries(value)) {
      const sub = s.properties?.[k];
      if (!sub) problems.push(`${path ? `${path}.` : ""}${k}: unknown key`);
      else checkValue(path ? `${path}.${k}` : k, v, sub, problems);
    }
  }
}

/** The effective configuration, or a ConfigError naming every problem. */
export function resolveConfig(raw) {
  const given = raw ?? {};
  const problems = [];
  checkValue("", given, schema, problems);
  if (given.token !== undefined && given.tokenFile !== undefined) {
    problems.push("token and tokenFile: set one, not both");
  }
  if (problems.length) throw new ConfigError(problems.join("; "));
  return {
    ...DEFAULTS,
    ...given,
    url: (given.url ?? DEFAULTS.url).replace(/\/+$/, ""),
    govern: { include: given.govern?.include ?? ["*"], exclude: given.govern?.exclude ?? [] },
    mcpServers: given.mcpServers ?? DEFAULTS.mcpServers,
  };
}
