import test from "node:test";
import assert from "node:assert";
import { buildMessage } from "./notify.mjs";

test("slack shape", () => {
  const m = buildMessage({ service: "api", version: "v1", env: "prod", actor: "ana" });
  assert.ok(m.text.includes("api v1"));
});

test("discord shape", () => {
  const m = buildMessage({ service: "api", version: "v1", env: "prod", actor: "ana", diff: "https://x" }, true);
  assert.ok(m.content.includes("[compare](https://x)"));
});
