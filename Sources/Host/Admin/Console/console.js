// DarkSpere operator console. Plain JavaScript, no framework, no build step.
//
// The token is kept in this tab's sessionStorage and sent as `Authorization: Bearer` with
// every API call (no cookie, so no CSRF surface). The live list comes from the admin event
// stream (GET /api/v1/events): a browser's EventSource cannot send headers, so that one
// endpoint takes the token as `?access_token=`. EventSource reconnects by itself and sends
// Last-Event-ID, so nothing is missed across a short outage. Every event only says "this
// session changed": the page then re-reads the list and, if open, the transcript: soon after
// the first event, then at most once a second (the transcript twice) however busy the
// gateway is, and the transcript only from the messages it does not have yet (`after=`).
"use strict";
(function () {
  const TOKEN_KEY = "darkspere.console.token";
  const $ = (sel) => document.querySelector(sel);
  const state = {
    token: null, me: null, tab: "conversations", openId: null, session: null, messages: [],
    sessions: [], waiting: [], nextCursor: null, agents: [], events: null, lastEventAt: 0,
  };

  // ---------------------------------------------------------------- API
  class ApiError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }

  async function api(method, path, body) {
    const headers = { Authorization: "Bearer " + state.token, Accept: "application/json" };
    const init = { method, headers, cache: "no-store" };
    if (body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    let res;
    try { res = await fetch("/api/v1/" + path, init); } catch (e) {
      throw new ApiError(0, "network", "The gateway does not answer (" + e.message + ").");
    }
    let data = null;
    try { data = await res.json(); } catch (e) { /* not JSON */ }
    if (res.status === 401) { signOut("The gateway refused this token (wrong, or revoked). Sign in again."); throw new ApiError(401, "unauthorized", "signed out"); }
    if (!res.ok) {
      const err = data && data.error ? data.error : { code: "http_" + res.status, message: res.status + " " + res.statusText };
      throw new ApiError(res.status, err.code, err.message);
    }
    return data;
  }

  // Runs an API call for a button or form: errors go to the toast (except the 401, which
  // already signed out).
  async function attempt(fn) {
    try { return await fn(); } catch (e) {
      if (e.status !== 401) showError(e.message);
      return undefined;
    }
  }

  // ---------------------------------------------------------------- helpers
  function el(tag, attrs, ...children) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") n.className = v;
      else if (k === "text") n.textContent = v;
      else if (k === "width") n.style.width = v;   // CSSOM, allowed by the page's CSP (style attributes are not)
      else if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
      else n.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c !== null && c !== undefined) n.append(c);
    return n;
  }

  function pad(n) { return String(n).padStart(2, "0"); }
  function when(iso) {
    if (!iso) return "";
    const d = new Date(iso), now = new Date();
    const hm = pad(d.getHours()) + ":" + pad(d.getMinutes());
    if (d.toDateString() === now.toDateString()) return hm;
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + hm;
  }
  function whenLong(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return when(iso) + ":" + pad(d.getSeconds());
  }

  let toastTimer = null;
  function showError(message) {
    $("#toast-text").textContent = message;
    $("#toast").hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { $("#toast").hidden = true; }, 8000);
  }

  function badgeFor(s) {
    if (s.state === "waiting") return el("span", { class: "badge waiting", text: "waiting for a human" });
    if (s.state === "taken_over") return el("span", { class: "badge taken", text: "taken over by " + (s.operator || "an operator") });
    if (s.state === "closed") return el("span", { class: "badge closed", text: "closed" });
    if (s.state === "expired") return el("span", { class: "badge expired", text: "expired" });
    return null;
  }

  const canChange = () => state.me && state.me.role === "operator";

  // ---------------------------------------------------------------- sign-in
  function showSignIn(note) {
    $("#app").hidden = true;
    $("#signin").hidden = false;
    $("#signin-note").hidden = !note;
    $("#signin-note").textContent = note || "";
    $("#token").value = "";
    $("#token").focus();
  }

  function signOut(note) {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null; state.me = null;
    if (state.events) { state.events.close(); state.events = null; }
    showSignIn(note);
  }

  async function signIn(token) {
    state.token = token;
    let me;
    try { me = await api("GET", "me"); } catch (e) {
      if (e.status === 401) showSignIn("That token was refused: it is not one of admin.tokens (or it was revoked).");
      else showSignIn("Could not reach the admin API: " + e.message);
      state.token = null;
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    state.me = me;
    document.body.classList.toggle("viewer", me.role !== "operator");
    $("#whoami").textContent = me.name + " · " + me.role;
    $("#signin").hidden = true;
    $("#app").hidden = false;
    connectEvents();
    loadAgents();
    route();
  }

  // ---------------------------------------------------------------- live events
  function setLive(cls, text) {
    $("#live").className = "live " + cls;
    $("#live-text").textContent = text;
  }

  function connectEvents() {
    if (state.events) state.events.close();
    const url = "/api/v1/events?type=" + encodeURIComponent("message.,session.,agent.,optout.") + "&access_token=" + encodeURIComponent(state.token);
    const es = new EventSource(url);
    state.events = es;
    setLive("", "connecting");
    es.onopen = () => { setLive("on", "live"); refreshSoon(); };
    es.onmessage = (m) => {
      let ev;
      try { ev = JSON.parse(m.data); } catch (e) { return; }
      onEvent(ev);
    };
    es.addEventListener("reset", () => refreshSoon());
    es.addEventListener("dropped", () => refreshSoon());
    es.onerror = () => {
      if (es !== state.events) return;
      if (es.readyState === EventSource.CLOSED) {
        // Refused (e.g. the token was revoked) or the listener is gone: find out which.
        setLive("off", "offline");
        setTimeout(async () => {
          if (es !== state.events || !state.token) return;
          try { await api("GET", "me"); connectEvents(); } catch (e) { if (e.status !== 401) setTimeout(connectEvents, 3000); }
        }, 1500);
      } else {
        setLive("", "reconnecting");   // EventSource retries by itself, with Last-Event-ID
      }
    };
  }

  function onEvent(ev) {
    const t = ev.type || "";
    if (ev.session) {
      refreshSoon();
      if (String(ev.session) === String(state.openId)) transcriptSoon();
    }
    if (t.startsWith("agent.") && state.tab === "agents") agentsSoon();
    if (t.startsWith("optout.") && state.tab === "optouts") loadOptOuts();
  }

  function debounce(fn, ms) {
    let timer = null;
    return () => { if (!timer) timer = setTimeout(() => { timer = null; fn(); }, ms); };
  }
  // Runs fn `first` ms after a call, but never sooner than `gap` ms after its last run: a
  // quiet gateway's event shows at once, a busy one's events cost one read per `gap`.
  function throttle(fn, first, gap) {
    let timer = null, last = 0;
    return () => {
      if (timer) return;
      timer = setTimeout(() => { timer = null; last = Date.now(); fn(); }, Math.max(first, last + gap - Date.now()));
    };
  }
  const refreshSoon = throttle(() => loadSessions(), 150, 1000);   // at most one list read a second
  const transcriptSoon = throttle(() => loadTranscript(false), 100, 500);
  const agentsSoon = debounce(() => loadAgents(), 500);

  // ---------------------------------------------------------------- conversations
  function sessionQuery(extra) {
    const q = new URLSearchParams();
    const number = $("#filter-number").value.trim();
    const agent = $("#filter-agent").value;
    if (number) q.set("number", number);
    if (agent) q.set("agent", agent);
    for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
    return "sessions?" + q.toString();
  }

  let loadingSessions = false, sessionsAgain = false;
  async function loadSessions() {
    if (!state.token) return;
    if (loadingSessions) { sessionsAgain = true; return; }
    loadingSessions = true;
    try {
      // Sessions an agent handed off come first: they are waiting for a person.
      const [waiting, page] = await Promise.all([
        api("GET", sessionQuery({ state: "waiting", limit: "50" })),
        api("GET", sessionQuery({ limit: "50" })),
      ]);
      state.waiting = waiting.sessions;
      state.sessions = page.sessions;
      state.nextCursor = page.next_cursor;
      renderSessions();
    } catch (e) {
      if (e.status !== 401) showError(e.message);
    } finally {
      loadingSessions = false;
      if (sessionsAgain) { sessionsAgain = false; refreshSoon(); }
    }
  }

  async function loadMore() {
    if (!state.nextCursor) return;
    const page = await attempt(() => api("GET", sessionQuery({ limit: "50", cursor: state.nextCursor })));
    if (!page) return;
    state.sessions = state.sessions.concat(page.sessions);
    state.nextCursor = page.next_cursor;
    renderSessions();
  }

  const seen = new Map();   // session id -> last_activity_at, to mark rows that changed
  function renderSessions() {
    const list = $("#sessions");
    const waitingIds = new Set(state.waiting.map((s) => s.id));
    const all = state.waiting.concat(state.sessions.filter((s) => !waitingIds.has(s.id)));
    const focusedId = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.id : null;
    const items = all.map((s) => {
      const changed = seen.has(s.id) && seen.get(s.id) !== s.last_activity_at;
      seen.set(s.id, s.last_activity_at);
      const a = el("a", { class: "session", href: "#/conversations/" + s.id, "data-id": String(s.id),
                          "aria-current": String(s.id) === String(state.openId) ? "true" : null },
        el("span", { class: "num", text: s.number }),
        el("span", { class: "time", text: when(s.last_activity_at) }),
        el("span", { class: "meta", text: s.agent + " · " + s.message_count + (s.message_count === 1 ? " message" : " messages") }),
        el("span", { class: "badges" }, badgeFor(s)));
      return el("li", { class: changed ? "fresh" : null, "data-session": String(s.id) }, a);
    });
    list.replaceChildren(...items);
    if (focusedId) { const f = list.querySelector('[data-id="' + focusedId + '"]'); if (f) f.focus(); }
    $("#sessions-empty").hidden = all.length > 0;
    $("#more").hidden = !state.nextCursor;
  }

  // ---------------------------------------------------------------- transcript
  async function openSession(id) {
    state.openId = id;
    $("#view-conversations").classList.toggle("reading", !!id);
    for (const a of document.querySelectorAll("#sessions .session")) {
      if (a.dataset.id === String(id)) a.setAttribute("aria-current", "true"); else a.removeAttribute("aria-current");
    }
    if (!id) { $("#transcript").hidden = true; $("#transcript-none").hidden = false; state.session = null; return; }
    $("#transcript-none").hidden = true;
    $("#transcript").hidden = false;
    $("#messages").replaceChildren();
    state.messages = [];
    await loadTranscript(true);
  }

  const TRANSCRIPT_LIMIT = 500;   // the API's default: the page shows the last 500 messages

  // A message whose status may still change: a user's message not answered yet, a send not
  // yet delivered or failed.
  function unsettled(m) {
    if (m.direction === "in") return m.status === "received";
    if (!m.delivery || m.delivery.state === "failed") return false;
    return !["delivered", "undelivered", "failed", "read", "canceled"].includes(m.delivery.status);
  }

  // The id to read after: the last message the page has, or just before the oldest of the
  // last 50 whose status may still change (so it is read again).
  function readAfter() {
    const ms = state.messages;
    if (ms.length === 0) return 0;
    let after = ms[ms.length - 1].id;
    for (let i = Math.max(0, ms.length - 50); i < ms.length; i++) {
      if (unsettled(ms[i])) { after = ms[i].id - 1; break; }
    }
    return after;
  }

  let loadingTranscript = false, transcriptAgain = false;
  async function loadTranscript(first) {
    const id = state.openId;
    if (!id || !state.token) return;
    if (loadingTranscript && !first) { transcriptAgain = true; return; }
    loadingTranscript = true;
    const after = first || state.session === null || String(state.session.id) !== String(id) ? 0 : readAfter();
    let data;
    try {
      data = await api("GET", "sessions/" + encodeURIComponent(id) + (after > 0 ? "?after=" + after : ""));
    } catch (e) {
      if (e.status !== 401) showError(e.message);
      return;
    } finally {
      loadingTranscript = false;
      if (transcriptAgain) { transcriptAgain = false; transcriptSoon(); }
    }
    if (id !== state.openId) return;
    state.session = data.session;
    // A full read, or a read after a point whose answer may have a gap (as many as asked):
    // everything is replaced; otherwise the new messages are added and the re-read ones updated.
    const whole = after === 0 || data.messages.length >= TRANSCRIPT_LIMIT;
    renderTranscript(data, first, whole);
  }

  function deliveryText(m) {
    const raw = m.delivery ? m.delivery.status || m.delivery.state || m.status : m.status;
    return raw ? String(raw).replace(/_/g, " ") : "";
  }

  function messageItem(m) {
    const role = ["user", "agent", "operator", "system"].includes(m.role) ? m.role : "system";
    const status = deliveryText(m);
    const failed = m.delivery && m.delivery.state === "failed";
    const name = role === "operator" ? m.operator : role === "agent" ? m.agent : null;
    return el("li", { class: "msg " + role, "data-id": String(m.id) },
      el("div", { class: "bubble", text: m.text }),
      el("div", { class: "info" },
        el("span", { class: "role", text: role }),
        name ? el("span", { class: "name", text: name }) : null,
        el("time", { datetime: m.time, text: whenLong(m.time) }),
        status ? el("span", { class: "status" + (failed ? " status-failed" : ""), text: status }) : null));
  }

  function renderTranscript(data, first, whole) {
    const s = data.session;
    $("#t-number").textContent = s.number;
    $("#t-agent").textContent = "agent " + s.agent + " ·";
    const badge = badgeFor(s);
    $("#t-state").textContent = badge ? "" : s.state.replace("_", " ");   // the badge says it otherwise
    $("#t-badges").replaceChildren(...[badge].filter(Boolean));
    const mine = s.operator && state.me && s.operator === state.me.name;
    const closed = s.state === "closed";
    const takeover = $("#t-takeover"), release = $("#t-release");
    takeover.hidden = !!mine;
    takeover.disabled = closed || (!!s.operator && !mine);
    takeover.textContent = s.state === "waiting" ? "Answer (take over)" : "Take over";
    release.hidden = !mine;
    const text = $("#reply-text"), send = $("#reply-send");
    text.disabled = !mine; send.disabled = !mine;
    text.placeholder = mine ? "Write to " + s.number + " (Enter sends, Shift+Enter for a new line)"
      : s.operator ? "Held by " + s.operator : "Take the conversation over to reply";

    const list = $("#messages");
    const atBottom = first || list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    if (whole) {
      state.messages = data.messages.slice();
      list.replaceChildren(...data.messages.map(messageItem));
    } else {
      // Re-read messages are redrawn in place (only if they changed), new ones appended;
      // the page keeps the last TRANSCRIPT_LIMIT, like a full read.
      const index = new Map(state.messages.map((m, i) => [m.id, i]));
      for (const m of data.messages) {
        const i = index.get(m.id);
        if (i === undefined) {
          state.messages.push(m);
          list.append(messageItem(m));
        } else if (JSON.stringify(state.messages[i]) !== JSON.stringify(m)) {
          state.messages[i] = m;
          const old = list.querySelector('li[data-id="' + m.id + '"]');
          if (old) old.replaceWith(messageItem(m));
        }
      }
      while (state.messages.length > TRANSCRIPT_LIMIT) {
        const gone = state.messages.shift();
        const li = list.querySelector('li[data-id="' + gone.id + '"]');
        if (li) li.remove();
      }
    }
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  async function takeOver() {
    const id = state.openId;
    if (await attempt(() => api("POST", "sessions/" + id + "/takeover", {}))) { await loadTranscript(false); $("#reply-text").focus(); refreshSoon(); }
  }
  async function releaseSession() {
    const id = state.openId;
    if (await attempt(() => api("POST", "sessions/" + id + "/release", {}))) { await loadTranscript(false); refreshSoon(); }
  }
  async function sendReply(ev) {
    ev.preventDefault();
    const field = $("#reply-text");
    const text = field.value;
    if (!text.trim()) { showError("Write something first."); return; }
    const id = state.openId;
    $("#reply-send").disabled = true;
    // The same key if this very text is retried: the gateway sends it once.
    const key = "console-" + id + "-" + Date.now() + "-" + Math.random().toString(36).slice(2);
    const ok = await attempt(async () => {
      const headers = { Authorization: "Bearer " + state.token, "Content-Type": "application/json", "Idempotency-Key": key };
      const res = await fetch("/api/v1/sessions/" + id + "/messages", { method: "POST", headers, body: JSON.stringify({ text }) });
      const data = await res.json().catch(() => null);
      if (res.status === 401) { signOut("The gateway refused this token (wrong, or revoked). Sign in again."); throw new ApiError(401, "", ""); }
      if (!res.ok) throw new ApiError(res.status, "", data && data.error ? data.error.message : res.status + " " + res.statusText);
      return data;
    });
    $("#reply-send").disabled = false;
    if (ok) { field.value = ""; await loadTranscript(false); }
    field.focus();
  }

  // ---------------------------------------------------------------- agents
  async function loadAgents() {
    const data = await attempt(() => api("GET", "agents"));
    if (!data) return;
    state.agents = data.agents;
    const select = $("#filter-agent"), chosen = select.value;
    select.replaceChildren(el("option", { value: "", text: "All agents" }),
      ...data.agents.map((a) => el("option", { value: a.name, text: a.name })));
    select.value = chosen;
    const rows = data.agents.map((a) => {
      const lat = a.latency_ms || {};
      const ms = (v) => (v === null || v === undefined ? "–" : (v < 10 ? v.toFixed(1) : Math.round(v)) + " ms");
      const rate = a.calls_5m > 0 ? (100 * a.errors_5m / a.calls_5m).toFixed(1) + " %" : "–";
      const buttons = el("div", { class: "actions" });
      const actions = el("td", { class: "operator-only" }, buttons);
      const setState = (target, label, cls) => el("button", { type: "button", class: cls || null, text: label,
        onclick: () => changeAgent(a.name, target), disabled: a.state === target });
      buttons.append(setState("draining", "Drain"), setState("disabled", "Disable", "danger"), setState("active", "Enable"));
      return el("tr", { "data-agent": a.name },
        el("td", {}, el("strong", { text: a.name }), el("span", { class: "sub", text: a.transport + (a.account ? " · " + a.account : "") })),
        el("td", {}, el("span", { class: "badge " + a.state, text: a.state.replace(/_/g, " ") })),
        el("td", {}, el("span", { class: "health", "aria-hidden": "true" }, el("span", { width: Math.max(0, Math.min(100, a.health)) + "%" })), String(a.health)),
        el("td", {}, el("span", { class: "badge " + (a.breaker === "closed" ? "ok" : a.breaker), text: a.breaker.replace("_", " ") })),
        el("td", { text: a.sessions + " / " + (a.max_sessions === null || a.max_sessions === undefined ? "∞" : a.max_sessions) }),
        el("td", { text: ms(lat.p50) + " / " + ms(lat.p95) }),
        el("td", { text: a.errors_5m + " of " + a.calls_5m + " (" + rate + ")" }),
        actions);
    });
    // Redrawn every few seconds: keep the keyboard focus where it was.
    const focused = document.activeElement, focusRow = focused && focused.closest ? focused.closest("tr[data-agent]") : null;
    const focusKey = focusRow ? [focusRow.dataset.agent, focused.textContent] : null;
    $("#agents tbody").replaceChildren(...rows);
    if (focusKey) {
      const row = Array.from($("#agents tbody").children).find((r) => r.dataset.agent === focusKey[0]);
      const b = row && Array.from(row.querySelectorAll("button")).find((x) => x.textContent === focusKey[1]);
      if (b && !b.disabled) b.focus();
    }
  }

  async function changeAgent(name, target) {
    if (await attempt(() => api("PATCH", "agents/" + encodeURIComponent(name), { state: target }))) loadAgents();
  }

  // ---------------------------------------------------------------- opt-outs
  async function loadOptOuts() {
    const data = await attempt(() => api("GET", "optouts?limit=500"));
    if (!data) return;
    const rows = data.optouts.map((o) => el("tr", {},
      el("td", { text: o.number }), el("td", { text: o.channel }), el("td", { text: o.keyword }), el("td", { text: when(o.created_at) }),
      el("td", { class: "operator-only" }, el("button", { type: "button", text: "Remove",
        onclick: async () => {
          const q = new URLSearchParams({ number: o.number, channel: o.channel });
          if (await attempt(() => api("DELETE", "optouts?" + q.toString()))) loadOptOuts();
        } }))));
    if (rows.length === 0) rows.push(el("tr", {}, el("td", { colspan: "5", class: "muted", text: "Nobody has opted out." })));
    $("#optouts tbody").replaceChildren(...rows);
  }

  async function addOptOut(ev) {
    ev.preventDefault();
    const number = $("#optout-number").value.trim();
    if (await attempt(() => api("POST", "optouts", { number }))) { $("#optout-number").value = ""; loadOptOuts(); }
  }

  // ---------------------------------------------------------------- usage
  const num = (n) => Number(n).toLocaleString("en-US");
  const pct = (p) => (p > 0 && p < 0.1 ? "< 0.1 %" : p.toFixed(1) + " %");

  async function loadUsage() {
    const data = await attempt(() => api("GET", "usage"));
    if (!data) return;
    $("#usage-period").textContent = data.period + " (calendar month, UTC)";
    const cards = data.accounts.map((a) => el("div", { class: "card" },
      el("h3", { text: a.name + " (" + a.id + ")" }),
      el("div", { class: "tier", text: "tier " + a.tier + " · " + a.status.replace("_", " ") + (a.overage ? " · overage " + a.overage : "")
        + (a.per_minute ? " · " + a.per_minute + "/min" : "") }),
      ...a.usage.map((u) => {
        const fill = u.percent === null ? 0 : Math.min(100, u.percent);
        const cls = u.percent === null ? "" : u.percent >= 100 ? "over" : u.percent >= 80 ? "high" : "";
        return el("div", { class: "meter" },
          el("div", { class: "label" }, el("span", { text: u.kind.replace(/_/g, " ") }),
            el("span", { text: num(u.used) + " / " + (u.limit === null ? "unlimited" : num(u.limit)) + (u.percent === null ? "" : "  (" + pct(u.percent) + ")") })),
          el("div", { class: "bar", role: "img", "aria-label": u.kind + " " + (u.percent === null ? "unlimited" : u.percent.toFixed(1) + " percent") },
            el("span", { class: cls, width: fill + "%" })));
      })));
    if (cards.length === 0) cards.push(el("p", { class: "empty", text: "No accounts are configured (accounts: in plugins.yaml)." }));
    $("#usage").replaceChildren(...cards);
  }

  // ---------------------------------------------------------------- routing (#/tab[/id])
  function route() {
    if (!state.token) return;
    $("#toast").hidden = true;
    const parts = location.hash.replace(/^#\/?/, "").split("/");
    const tab = ["conversations", "agents", "optouts", "usage"].includes(parts[0]) ? parts[0] : "conversations";
    state.tab = tab;
    for (const v of document.querySelectorAll(".view")) v.hidden = v.dataset.view !== tab;
    for (const a of document.querySelectorAll(".tabs a")) {
      if (a.dataset.tab === tab) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    }
    if (tab === "conversations") {
      const id = parts[1] && /^\d+$/.test(parts[1]) ? parts[1] : null;
      if (state.sessions.length === 0) loadSessions();
      if (id !== state.openId || !id) openSession(id);
    } else if (tab === "agents") loadAgents();
    else if (tab === "optouts") loadOptOuts();
    else if (tab === "usage") loadUsage();
  }

  // ---------------------------------------------------------------- wiring
  document.addEventListener("DOMContentLoaded", () => {
    $("#signin-form").addEventListener("submit", (ev) => { ev.preventDefault(); const t = $("#token").value.trim(); if (t) signIn(t); });
    $("#signout").addEventListener("click", () => signOut("Signed out."));
    $("#toast-close").addEventListener("click", () => { $("#toast").hidden = true; });
    $("#filters").addEventListener("submit", (ev) => { ev.preventDefault(); loadSessions(); });
    const filterSoon = debounce(() => loadSessions(), 300);
    $("#filter-number").addEventListener("input", filterSoon);
    $("#filter-number").addEventListener("change", filterSoon);
    $("#filter-agent").addEventListener("change", () => loadSessions());
    $("#more").addEventListener("click", loadMore);
    $("#t-takeover").addEventListener("click", takeOver);
    $("#t-release").addEventListener("click", releaseSession);
    $("#reply").addEventListener("submit", sendReply);
    $("#reply-text").addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); $("#reply").requestSubmit(); }
    });
    $("#optout-add").addEventListener("submit", addOptOut);
    window.addEventListener("hashchange", route);
    // Refresh the relative parts (times, agent figures) now and then, without flicker.
    setInterval(() => { if (state.token && state.tab === "agents") loadAgents(); }, 5000);
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) signIn(saved); else showSignIn(null);
  });
})();
