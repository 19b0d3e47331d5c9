"""A counting MCP upstream for the fault test, on the official MCP Python SDK
(low-level Server, Streamable HTTP). Every tool call it executes appends one
line "<tool> <nonce> <pid>" to LOG, flushed and fsynced before it answers, so
the test can tell which calls really ran and how many times.

  echo  (readOnlyHint: true)     -> Warden's default read-only rule allows it
  purge (destructiveHint: true)  -> Warden's default write rule holds it for a human

Usage: python counting_upstream.py PORT LOG
"""

import os
import sys
import threading

import uvicorn
from mcp import types
from mcp.server.lowlevel.server import Server

LOG_PATH = sys.argv[2] if len(sys.argv) > 2 else os.devnull
_lock = threading.Lock()
_log = open(LOG_PATH, "a", buffering=1)

NONCE = {"type": "object", "properties": {"nonce": {"type": "string"}}, "required": ["nonce"]}
TOOLS = [
    types.Tool(name="echo", description="Echoes a nonce (and counts it)", input_schema=NONCE,
               annotations=types.ToolAnnotations(read_only_hint=True)),
    types.Tool(name="purge", description="Pretends to purge a record (and counts it)", input_schema=NONCE,
               annotations=types.ToolAnnotations(read_only_hint=False, destructive_hint=True)),
]


def executed(tool, nonce):
    with _lock:
        _log.write(f"{tool} {nonce} {os.getpid()}\n")
        _log.flush()
        os.fsync(_log.fileno())


async def list_tools(ctx, params):
    return types.ListToolsResult(tools=TOOLS)


async def call_tool(ctx, params):
    args = params.arguments or {}
    nonce = str(args.get("nonce", ""))
    if params.name not in ("echo", "purge") or not nonce:
        return types.CallToolResult(content=[types.TextContent(type="text", text="bad call")], is_error=True)
    executed(params.name, nonce)
    return types.CallToolResult(content=[types.TextContent(type="text", text=f"{params.name}:{nonce}")])


server = Server("counting-upstream", version="1.0.0", on_list_tools=list_tools, on_call_tool=call_tool)

if __name__ == "__main__":
    app = server.streamable_http_app(host="127.0.0.1")
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
