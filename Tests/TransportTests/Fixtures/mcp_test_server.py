"""MCP test server built on the official Python MCP SDK (PyPI `mcp`).

Usage:
  python3 mcp_test_server.py stdio
  python3 mcp_test_server.py http PORT json|sse

Tools:
  chat(message, session_id, to, channel, history) -> JSON text of what it received
  structured(message)      -> structuredContent {"reply": "structured: <message>"}
  fail(message)            -> raises: a result with isError true
  pid(message)             -> the server's process id
  version(message)         -> the protocol version of the request
  slow(message)            -> sleeps <message> seconds; on cancellation writes
                              $MCP_TEST_CANCEL_FILE
  needs_account(message, account) -> requires an argument the gateway cannot supply
"""
import asyncio
import json
import os
import sys
from typing import TypedDict

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("darkspere-test-server")


@server.tool()
def chat(message: str, session_id: str = "", to: str = "", channel: str = "",
         history: list[dict] = []) -> str:
    return json.dumps({"message": message, "session_id": session_id, "to": to,
                       "channel": channel, "history": history})


@server.tool(structured_output=False)
def picture(message: str, media: list[dict] = [], history: list[dict] = []):
    """Counts the attachments it got and answers with a picture (a resource link)."""
    from mcp.types import TextContent, ResourceLink
    hm = sum(len(h.get("media", [])) for h in history)
    return [TextContent(type="text", text="media=%d history_media=%d first=%s" % (len(media), hm, media[0]["url"] if media else "-")),
            ResourceLink(type="resource_link", uri="https://cdn.example.com/cat.png", name="cat", mimeType="image/png")]


class Reply(TypedDict):
    reply: str


@server.tool(structured_output=True)
def structured(message: str) -> Reply:
    return {"reply": "structured: " + message}


@server.tool()
def fail(message: str) -> str:
    raise ToolError("the agent refused: " + message)


@server.tool()
def version(message: str, ctx: Context) -> str:
    return str(ctx.protocol_version)


@server.tool()
def pid(message: str) -> str:
    return str(os.getpid())


@server.tool()
async def slow(message: str) -> str:
    try:
        await asyncio.sleep(float(message))
    except asyncio.CancelledError:
        path = os.environ.get("MCP_TEST_CANCEL_FILE")
        if path:
            with open(path, "w") as f:
                f.write("cancelled")
        raise
    return "slept " + message


@server.tool()
def needs_account(message: str, account: str) -> str:
    return account


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "stdio"
    if mode == "stdio":
        print("test server starting on stdio", file=sys.stderr, flush=True)
        server.run("stdio")
    else:
        port = int(sys.argv[2])
        json_response = len(sys.argv) > 3 and sys.argv[3] == "json"
        server.run("streamable-http", host="127.0.0.1", port=port, json_response=json_response)
