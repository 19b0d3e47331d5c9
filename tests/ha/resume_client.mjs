// An MCP client as OpenClaw runs it: the official TypeScript SDK (the copy
// OpenClaw installs, from MCP_SDK_DIR) over Streamable HTTP, calling one tool
// that Warden holds for a human. Prints one JSON line per event.
// Usage: node resume_client.mjs <mcp url> <token> <nonce>
import { pathToFileURL } from "node:url";

const sdk = process.env.MCP_SDK_DIR;
const { Client } = await import(pathToFileURL(`${sdk}/dist/esm/client/index.js`).href);
const { StreamableHTTPClientTransport } = await import(pathToFileURL(`${sdk}/dist/esm/client/streamableHttp.js`).href);

const [url, token, nonce] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const transportErrors = [];
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "warden-ha-resume", version: "1.0.0" });
client.onerror = (e) => transportErrors.push(String(e?.message ?? e));
await client.connect(transport);
out({ event: "connected", session: transport.sessionId });
const started = Date.now();
try {
  const result = await client.callTool({ name: "purge", arguments: { nonce } }, undefined, { timeout: 90_000 });
  out({ event: "result", result, ms: Date.now() - started, transportErrors });
} catch (e) {
  out({ event: "error", code: e.code, message: e.message, data: e.data, ms: Date.now() - started, transportErrors });
}
await transport.close().catch(() => {});
process.exit(0);
