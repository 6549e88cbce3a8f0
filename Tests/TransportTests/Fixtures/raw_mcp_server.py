"""A hand-written MCP server over stdio (no SDK), for what the SDK server does not do
on demand: paginated tools/list, a chosen protocol version, and a server-to-client
request (ping) in the middle of a tools/call.

Usage: python3 raw_mcp_server.py VERSION PAGES
  VERSION  the protocolVersion to answer initialize with
  PAGES    tools/list pages; the `chat` tool is on the last one
"""
import json
import sys

version, pages = sys.argv[1], int(sys.argv[2])


def send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def read():
    line = sys.stdin.readline()
    if not line:
        sys.exit(0)
    return json.loads(line)


while True:
    m = read()
    method, mid = m.get("method"), m.get("id")
    if mid is None:
        continue
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": mid, "result": {"protocolVersion": version, "capabilities": {"tools": {}},
                                                      "serverInfo": {"name": "raw", "version": "1"}}})
    elif method == "tools/list":
        page = int((m.get("params") or {}).get("cursor") or 0)
        tools = [{"name": "t%d" % page, "inputSchema": {"type": "object", "properties": {"message": {"type": "string"}}}}]
        result = {"tools": tools}
        if page + 1 < pages:
            result["nextCursor"] = str(page + 1)
        else:
            tools.append({"name": "chat", "inputSchema": {"type": "object", "required": ["message"],
                          "properties": {"message": {"type": "string"}, "from": {"type": "string"}}}})
        send({"jsonrpc": "2.0", "id": mid, "result": result})
    elif method == "tools/call":
        # Ask the client something first; answer only once it replied.
        send({"jsonrpc": "2.0", "id": "srv-1", "method": "ping"})
        answered = False
        while not answered:
            r = read()
            answered = r.get("id") == "srv-1" and "result" in r
        args = m["params"]["arguments"]
        send({"jsonrpc": "2.0", "id": mid, "result": {"content": [
            {"type": "text", "text": "pong-ok from=%s keys=%s" % (args.get("from"), ",".join(sorted(args)))}]}})
    elif method == "ping":
        send({"jsonrpc": "2.0", "id": mid, "result": {}})
    else:
        send({"jsonrpc": "2.0", "id": mid, "error": {"code": -32601, "message": "no " + method}})
