"""Local test agent for the http-agent and openai transports (and the benchmark).

Usage: python3 agent_http_server.py PORT

HTTP JSON agent (chat.request -> chat.response):
  POST /chat        answers "got: <message> (history N)"; session_state counts turns
  POST /secure      like /chat but 401 unless "Authorization: Bearer sekret"
  POST /slow        sleeps 3 s first
  POST /fail        503
  POST /bad         200 with a body that is not a chat.response
  POST /handoff     "handoff" (asks for a human) when the message contains "human";
                    else "roles: <the history's roles, comma-separated>"
  GET  /health      200 {"ok":true}
OpenAI-compatible:
  POST /v1/chat/completions        content "model=M n=N last=L system=S"
  POST /v1-slow/chat/completions   sleeps 3 s first
  POST /v1-500/chat/completions    500
  POST /v1-429/chat/completions    429 with Retry-After: 7
  GET  /v1/models                  200
  GET  /requests                   the last request seen: {"path","headers","body"}
"""
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

last = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True   # one response = one segment; no 40 ms delayed-ACK stalls

    def log_message(self, *args):
        pass

    def send_json(self, status, obj, extra=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path in ("/health", "/v1/models"):
            self.send_json(200, {"ok": True, "data": []})
        elif self.path == "/requests":
            self.send_json(200, last)
        else:
            self.send_json(404, {"error": "no such path"})

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return self.send_json(400, {"error": "bad json"})
        last.clear()
        last.update({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
        p = self.path
        if p in ("/slow", "/v1-slow/chat/completions"):
            time.sleep(3)
        if p == "/fail" or p == "/v1-500/chat/completions":
            return self.send_json(503 if p == "/fail" else 500, {"error": {"message": "down"}})
        if p == "/v1-429/chat/completions":
            return self.send_json(429, {"error": {"message": "slow down"}}, {"Retry-After": "7"})
        if p == "/bad":
            return self.send_json(200, {"type": "something.else"})
        if p == "/secure" and self.headers.get("Authorization") != "Bearer sekret":
            return self.send_json(401, {"error": "unauthorised"})
        if p == "/handoff":
            # Asks for a human when the message says "human"; otherwise lists the history's roles.
            hist = body.get("context", {}).get("conversation_history", [])
            if "human" in (body.get("message") or ""):
                return self.send_json(200, {"type": "chat.response", "message": "let me find someone",
                                            "handoff": {"reason": "asked for a person"}})
            return self.send_json(200, {"type": "chat.response",
                                        "message": "roles: " + ",".join(h.get("role", "?") for h in hist)})
        if p in ("/chat", "/secure", "/slow"):
            state = body.get("context", {}).get("session_state", {}) or {}
            hist = body.get("context", {}).get("conversation_history", [])
            turns = int(state.get("turns", 0)) + 1
            return self.send_json(200, {
                "type": "chat.response",
                "message": "got: %s (history %d)" % (body.get("message"), len(hist)),
                "context_update": {"session_state": {"turns": turns, "last": body.get("message")}},
            })
        if p.endswith("/chat/completions"):
            msgs = body.get("messages", [])
            system = msgs[0]["content"] if msgs and msgs[0]["role"] == "system" else ""
            content = "model=%s n=%d last=%s system=%s" % (body.get("model"), len(msgs), msgs[-1]["content"] if msgs else "", system)
            return self.send_json(200, {"id": "x", "object": "chat.completion",
                                        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                                     "finish_reason": "stop"}]})
        self.send_json(404, {"error": "no such path"})


if __name__ == "__main__":
    ThreadingHTTPServer.daemon_threads = True
    srv = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    print("listening", flush=True)
    srv.serve_forever()
