/// The embeddable widget (one script tag, no build step) and the demo page, served by
/// the channel. Static text; thread-safe.
///
///     <script src="https://gateway.example.com/webchat/widget.js" data-title="Ask us" async></script>
///
/// The script finds the API next to its own URL, keeps the visitor's token in
/// localStorage (so a reload resumes the conversation), long-polls `/poll` for replies
/// and deferred replies, and renders every text with textContent (never as HTML).
/// `data-target="<element id>"` puts the chat inside that element instead of a floating box.
enum WidgetAssets {
    static let script = #"""
    (function () {
      "use strict";
      var me = document.currentScript;
      if (!me || !window.fetch) return;
      var api = me.src.replace(/\/widget\.js(\?.*)?$/, "");
      var title = me.getAttribute("data-title") || "Chat";
      var target = me.getAttribute("data-target");
      var key = "darkspere-webchat:" + api;
      var state = { token: null, after: 0, seen: {} };

      var css = ".ds-chat{font:15px/1.4 system-ui,sans-serif;display:flex;flex-direction:column;background:#fff;border:1px solid #d0d5dd;border-radius:12px;overflow:hidden;box-shadow:0 8px 24px rgba(0,0,0,.12)}" +
        ".ds-float{position:fixed;right:20px;bottom:20px;width:340px;height:460px;z-index:2147483000}" +
        ".ds-inline{width:100%;height:100%;min-height:360px}" +
        ".ds-head{background:#1f3a5f;color:#fff;padding:10px 14px;font-weight:600}" +
        ".ds-log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px;background:#f6f7f9}" +
        ".ds-msg{max-width:80%;padding:8px 12px;border-radius:14px;white-space:pre-wrap;word-wrap:break-word}" +
        ".ds-user{align-self:flex-end;background:#1f6feb;color:#fff;border-bottom-right-radius:4px}" +
        ".ds-assistant{align-self:flex-start;background:#fff;border:1px solid #e3e6ea;border-bottom-left-radius:4px}" +
        ".ds-note{align-self:center;color:#667085;font-size:12px}" +
        ".ds-form{display:flex;border-top:1px solid #e3e6ea}" +
        ".ds-input{flex:1;border:0;padding:12px;font:inherit;outline:none}" +
        ".ds-send{border:0;background:#1f6feb;color:#fff;padding:0 16px;font:inherit;cursor:pointer}";
      var style = document.createElement("style");
      style.textContent = css;
      document.head.appendChild(style);

      var box = document.createElement("div");
      box.className = "ds-chat " + (target ? "ds-inline" : "ds-float");
      box.id = "darkspere-chat";
      var head = document.createElement("div"); head.className = "ds-head"; head.textContent = title;
      var log = document.createElement("div"); log.className = "ds-log";
      var form = document.createElement("form"); form.className = "ds-form";
      var input = document.createElement("input"); input.className = "ds-input"; input.placeholder = "Type a message"; input.maxLength = 2000;
      input.setAttribute("aria-label", "Message");
      var button = document.createElement("button"); button.className = "ds-send"; button.type = "submit"; button.textContent = "Send";
      form.appendChild(input); form.appendChild(button);
      box.appendChild(head); box.appendChild(log); box.appendChild(form);
      (target && document.getElementById(target) || document.body).appendChild(box);

      function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }
      function auth(extra) { var h = extra || {}; h.Authorization = "Bearer " + state.token; return h; }
      function note(text) { var n = document.createElement("div"); n.className = "ds-note"; n.textContent = text; log.appendChild(n); log.scrollTop = log.scrollHeight; }
      function render(list) {
        (list || []).forEach(function (m) {
          if (state.seen[m.seq]) return;
          state.seen[m.seq] = true;
          if (m.seq > state.after) state.after = m.seq;
          var el = document.createElement("div");
          el.className = "ds-msg ds-" + (m.role === "user" ? "user" : "assistant");
          el.setAttribute("data-seq", m.seq);
          el.textContent = m.text;
          var next = null;
          Array.prototype.forEach.call(log.querySelectorAll(".ds-msg"), function (o) { if (!next && +o.getAttribute("data-seq") > m.seq) next = o; });
          log.insertBefore(el, next);
        });
        log.scrollTop = log.scrollHeight;
      }
      async function newSession() {
        var r = await fetch(api + "/session", { method: "POST" });
        if (!r.ok) throw new Error("session " + r.status);
        var j = await r.json();
        state.token = j.token; state.after = 0; state.seen = {};
        Array.prototype.slice.call(log.querySelectorAll(".ds-msg")).forEach(function (e) { e.remove(); });
        localStorage.setItem(key, JSON.stringify({ token: j.token, expires: j.expires }));
      }
      async function ready() {
        var saved = null;
        try { saved = JSON.parse(localStorage.getItem(key)); } catch (e) {}
        if (saved && saved.token && saved.expires * 1000 > Date.now() + 60000) state.token = saved.token;
        else await newSession();
      }
      async function poll() {
        for (;;) {
          try {
            var r = await fetch(api + "/poll?after=" + state.after, { headers: auth() });
            if (r.status === 401) { await newSession(); continue; }
            if (!r.ok) { await sleep(2000); continue; }
            render((await r.json()).messages);
          } catch (e) { await sleep(2000); }
        }
      }
      async function send(text, retried) {
        var id = Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
        var r = await fetch(api + "/messages", { method: "POST", headers: auth({ "Content-Type": "application/json" }), body: JSON.stringify({ text: text, id: id }) });
        if (r.status === 401 && !retried) { await newSession(); return send(text, true); }
        if (r.status === 429) { note("Slow down a little: too many messages."); return; }
        if (!r.ok && r.status !== 202) { note("Not sent (" + r.status + "). Please try again."); return; }
        render((await r.json()).messages);
      }
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var text = input.value.trim();
        if (!text) return;
        input.value = "";
        send(text).catch(function () { note("Not sent. Please try again."); });
      });
      ready().then(poll).catch(function () { note("Chat unavailable."); });
    })();
    """#

    static func demoPage(title: String, prefix: String) -> String {
        let t = escape(title)
        return """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
        <title>\(t) · DarkSpere web chat demo</title>
        <style>body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#eef1f5;color:#1d2939}
        main{max-width:720px;margin:32px auto;padding:0 16px}#chat{height:520px}</style></head>
        <body><main><h1>\(t)</h1>
        <p>This page is served by the DarkSpere gateway (<code>demo: true</code>). The chat below is the embeddable widget:
        one <code>&lt;script src="\(escape(prefix))/widget.js"&gt;</code> tag. Messages go through the gateway's router to your agent.</p>
        <div id="chat"></div></main>
        <script src="\(escape(prefix))/widget.js" data-title="\(t)" data-target="chat"></script>
        </body></html>
        """
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
