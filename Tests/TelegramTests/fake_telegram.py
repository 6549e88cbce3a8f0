#!/usr/bin/env python3
"""A fake Telegram Bot API on loopback, for the Telegram channel's tests and benchmark.

Follows https://core.telegram.org/bots/api#making-requests: POST /bot<token>/<method>
with a JSON (or form) body; answers {"ok": true, "result": ...} or {"ok": false,
"error_code": N, "description": "...", "parameters": {"retry_after": S}}.

Methods: getMe, setWebhook, deleteWebhook, sendMessage, sendPhoto and sendDocument (by
URL; caption up to 1024 characters), sendChatAction, getFile,
getUpdates (long poll over the queued updates; `offset` confirms earlier ones).
GET /file/bot<token>/<file_path> serves a small JPEG-like body.
sendMessage by chat_id:
  429429    429 (retry_after 1) for the 2nd request to that chat, then ok
  403403    403 "Forbidden: bot was blocked by the user"
  text over 4096 UTF-16 units: 400 "Bad Request: message is too long"
A wrong token: 401 "Unauthorized". Control (tests only):
  POST /control/updates  JSON array of updates to queue for getUpdates
  POST /control/replay   forget confirmations: getUpdates returns every update again
  GET  /requests         every Bot API request as [{"method", "params", "t"}]
Prints the bound port on stdout, serves until killed. Argument: the bot token.
With QUIET=1 it records no requests (benchmarks).
"""
import json, os, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

TOKEN = sys.argv[1]
QUIET = os.environ.get("QUIET") == "1"
lock = threading.Condition()
requests, updates, per_chat = [], [], {}
state = {"confirmed": 0, "message_id": 1000}


def utf16_len(s):
    return len(s.encode("utf-16-le")) // 2


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, status, obj, ctype="application/json"):
        body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def ok(self, result):
        self.answer(200, {"ok": True, "result": result})

    def err(self, code, description, parameters=None):
        o = {"ok": False, "error_code": code, "description": description}
        if parameters:
            o["parameters"] = parameters
        self.answer(code, o)

    def do_GET(self):
        if self.path == "/requests":
            with lock:
                return self.answer(200, requests)
        if self.path.startswith(f"/file/bot{TOKEN}/"):
            return self.answer(200, b"\xff\xd8\xff\xe0fake-jpeg-bytes", "image/jpeg")
        self.err(404, "Not Found")

    def body(self):
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n).decode()
        if self.headers.get("Content-Type", "").startswith("application/json"):
            return json.loads(raw or "{}")
        return {k: v[0] for k, v in parse_qs(raw).items()}

    def do_POST(self):
        if self.path == "/control/updates":
            new = self.body()
            with lock:
                updates.extend(new)
                lock.notify_all()
            return self.ok(True)
        if self.path == "/control/replay":
            self.body()
            with lock:
                state["confirmed"] = 0
            return self.ok(True)
        parts = self.path.split("/")
        if len(parts) != 3 or not parts[1].startswith("bot"):
            return self.err(404, "Not Found")
        params = self.body()
        if parts[1] != "bot" + TOKEN:
            return self.err(401, "Unauthorized")
        method = parts[2]
        if not QUIET or method != "sendMessage":
            with lock:
                requests.append({"method": method, "params": params, "t": time.time()})
        if method == "getMe":
            return self.ok({"id": int(TOKEN.split(":")[0]), "is_bot": True, "first_name": "Fake", "username": "fake_bot"})
        if method in ("setWebhook", "deleteWebhook", "sendChatAction"):
            return self.ok(True)
        if method == "getFile":
            return self.ok({"file_id": params.get("file_id"), "file_unique_id": "u1", "file_path": "photos/file_1.jpg"})
        if method == "sendMessage":
            chat, text = int(params.get("chat_id", 0)), params.get("text", "")
            with lock:
                per_chat[chat] = per_chat.get(chat, 0) + 1
                count = per_chat[chat]
                state["message_id"] += 1
                mid = state["message_id"]
            if chat == 429429 and count == 2:
                return self.err(429, "Too Many Requests: retry after 1", {"retry_after": 1})
            if chat == 403403:
                return self.err(403, "Forbidden: bot was blocked by the user")
            if not text or utf16_len(text) > 4096:
                return self.err(400, "Bad Request: message is too long" if text else "Bad Request: message text is empty")
            return self.ok({"message_id": mid, "chat": {"id": chat, "type": "private"}, "date": int(time.time()), "text": text})
        if method in ("sendPhoto", "sendDocument"):
            # By URL only (what the plugin sends): photo/document must be an http(s) URL.
            what = params.get("photo" if method == "sendPhoto" else "document", "")
            if not str(what).startswith(("http://", "https://")):
                return self.err(400, "Bad Request: wrong remote file identifier specified")
            if len(params.get("caption", "")) > 1024:
                return self.err(400, "Bad Request: message caption is too long")
            with lock:
                state["message_id"] += 1
                mid = state["message_id"]
            return self.ok({"message_id": mid, "chat": {"id": int(params.get("chat_id", 0)), "type": "private"},
                            "date": int(time.time()), "photo": [{"file_id": "p1", "file_unique_id": "u1", "width": 1, "height": 1}]})
        if method == "getUpdates":
            offset, timeout = int(params.get("offset", 0) or 0), float(params.get("timeout", 0) or 0)
            deadline = time.time() + timeout
            with lock:
                if offset > 0:
                    state["confirmed"] = max(state["confirmed"], offset)
                while True:
                    ready = [u for u in updates if u["update_id"] >= state["confirmed"]]
                    left = deadline - time.time()
                    if ready or left <= 0:
                        return self.ok(ready[:100])
                    lock.wait(left)
        self.err(400, f"Bad Request: method {method} not found")


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
