// OpenClaw plugin entry: registers before_tool_call (ask Warden, fail closed)
// and after_tool_call (report the outcome). No dependencies beyond Node.

import { createWardenHooks } from "./lib/hooks.js";

export { createWardenHooks, hookTimeoutFor } from "./lib/hooks.js";
export { mcpToolPrefix } from "./lib/names.js";

export default {
  id: "warden",
  name: "Warden",
  description: "Asks the Warden governance gateway before each tool call runs; blocks unless Warden allows it.",
  register(api) {
    const hooks = createWardenHooks(api.pluginConfig, { logger: api.logger });
    // The registration timeout covers the longest approval wait plus one
    // request and a margin: OpenClaw's default (15 s) would cut a held call
    // short, and a hook that times out is treated as a block.
    api.on("before_tool_call", hooks.beforeToolCall, { timeoutMs: hooks.hookTimeoutMs, priority: 100 });
    if (hooks.config?.reportOutcomes) {
      api.on("after_tool_call", hooks.afterToolCall, { timeoutMs: hooks.outcomeTimeoutMs });
    }
    if (hooks.config) {
      api.logger?.info?.(
        `warden: deciding tool calls at ${hooks.config.url} (approvals: ${hooks.config.approvalMode}, hook timeout ${hooks.hookTimeoutMs} ms)`,
      );
    }
  },
};
