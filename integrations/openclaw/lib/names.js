// Tool names as the hook sees them, and which of them this plugin decides.
// See NOTES.md ("MCP tool names") for the OpenClaw rules mirrored here.

/**
 * The prefix OpenClaw gives the tools of MCP server `name`, in the form the
 * before_tool_call hook receives (lower case): every character outside
 * A-Z a-z 0-9 _ - becomes "-", a name not starting with a letter gets "mcp-"
 * in front, and the result is cut to 30 characters. Collision suffixes
 * ("-2", ...) are not derived: list such a server under its suffixed name.
 */
export function mcpToolPrefix(serverName) {
  let s = serverName.trim().replace(/[^A-Za-z0-9_-]/g, "-") || "mcp";
  if (!/^[A-Za-z]/.test(s)) s = `mcp-${s}`;
  return `${s.slice(0, 30).toLowerCase()}__`;
}

/** A glob with `*` (any run) and `?` (one character), whole-name, case-insensitive. */
export function globToRegExp(glob) {
  let re = "";
  for (const ch of glob) {
    if (ch === "*") re += ".*";
    else if (ch === "?") re += ".";
    else re += ch.replace(/[\\^$.|+()[\]{}]/g, "\\$&");
  }
  return new RegExp(`^${re}$`, "i");
}

/** Decides, per tool name, whether this plugin asks Warden about it. */
export function toolSelector(config) {
  const prefixes = config.mcpServers.map(mcpToolPrefix);
  const include = config.govern.include.map(globToRegExp);
  const exclude = config.govern.exclude.map(globToRegExp);
  return (toolName) => {
    const name = String(toolName ?? "");
    const lower = name.toLowerCase();
    const server = prefixes.find((p) => lower.startsWith(p));
    if (server) return { ask: false, why: `an MCP tool of Warden's server (${server}*), decided at /mcp` };
    if (!include.some((r) => r.test(name))) return { ask: false, why: "not in govern.include" };
    if (exclude.some((r) => r.test(name))) return { ask: false, why: "in govern.exclude" };
    return { ask: true };
  };
}
