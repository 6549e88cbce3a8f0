#!/usr/bin/env python3
"""An HTTP JSON agent (the http-agent transport's chat.request -> chat.response) for the
media tests. Prints its port, serves until stdin closes or it is killed. Loopback only.

POST /chat answers "got: <message> media=<N> history_media=<M>" where N is the number of
attachments of the new message and M the number of attachments over its history entries.
When the message contains "picture" the answer carries one attachment,
https://cdn.example.com/cat.png (image/png); with "slow" it first sleeps 1.5 s (past the
tests' inline budget, so the reply is sent later through Twilio's REST API).
GET /requests returns every chat.request body received, oldest first.
"""
import json, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

seen, lock = [], threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/requests":
            with lock:
                return self.answer(200, list(seen))
        self.answer(200, {"ok": True})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        with lock:
            seen.append(body)
        text = body.get("message", "")
        if "slow" in text:
            time.sleep(1.5)
        hist = body.get("context", {}).get("conversation_history", [])
        out = {"type": "chat.response",
               "message": "got: %s media=%d history_media=%d" % (text, len(body.get("media", [])),
                                                                 sum(len(h.get("media", [])) for h in hist))}
        if "picture" in text:
            out["media"] = [{"url": "https://cdn.example.com/cat.png", "content_type": "image/png"}]
        self.answer(200, out)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
sys.stdin.read()
server.shutdown()
