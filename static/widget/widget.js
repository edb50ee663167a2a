/* Relaymark chat widget: one <script src=".../widget.js" data-site-key="..."> tag, no build step.
 *
 * The host page may set, before the tag:
 *   window.RelaymarkChat = { user: {id, email, name, hash}, page: {screen: "...", feature: "..."} };
 * `hash` is HMAC-SHA256(site secret, user id), computed by the host's server (identity verification).
 * All customer and agent text is inserted with textContent, never as HTML.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__relaymarkChatLoaded) return;
  window.__relaymarkChatLoaded = true;
  var siteKey = script.getAttribute("data-site-key") || "";
  var base = new URL(script.src, location.href);
  var wsUrl = (base.protocol === "https:" ? "wss://" : "ws://") + base.host + "/ws/widget/?site=" + encodeURIComponent(siteKey);
  var config = window.RelaymarkChat || {};
  var store = {
    get: function (k) { try { return localStorage.getItem("rmchat:" + siteKey + ":" + k); } catch (e) { return null; } },
    set: function (k, v) { try { localStorage.setItem("rmchat:" + siteKey + ":" + k, v); } catch (e) {} }
  };

  // ------------------------------------------------------------------ DOM (shadow root keeps host CSS out)
  var host = document.createElement("div");
  host.id = "relaymark-chat";
  document.body.appendChild(host);
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  root.innerHTML =
    '<style>' +
    ':host{all:initial}*{box-sizing:border-box;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}' +
    '.launcher{position:fixed;right:20px;bottom:20px;width:60px;height:60px;border-radius:50%;border:0;background:#3b5bdb;color:#fff;display:flex;align-items:center;justify-content:center;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);z-index:2147483000}' +
    '.launcher:focus-visible,button:focus-visible,textarea:focus-visible{outline:3px solid #f59f00;outline-offset:2px}' +
    '.panel{position:fixed;right:20px;bottom:92px;width:370px;max-width:calc(100vw - 24px);height:560px;max-height:calc(100vh - 110px);background:#fff;border-radius:14px;box-shadow:0 10px 40px rgba(0,0,0,.25);display:flex;flex-direction:column;overflow:hidden;z-index:2147483000;color:#1d2330;font-size:14px}' +
    '.panel[hidden]{display:none}' +
    'header{background:#3b5bdb;color:#fff;padding:12px 14px;display:flex;align-items:center;gap:8px}header h2{font-size:16px;margin:0;flex:1}' +
    'header button{background:transparent;border:0;color:#fff;font-size:20px;cursor:pointer}' +
    '.log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px;background:#f6f7f9}' +
    '.msg{max-width:85%;padding:8px 11px;border-radius:12px;white-space:pre-wrap;line-height:1.4;overflow-wrap:anywhere}' +
    '.customer{align-self:flex-end;background:#3b5bdb;color:#fff;border-bottom-right-radius:4px}' +
    '.ai,.agent{align-self:flex-start;background:#fff;border:1px solid #e4e7ec;border-bottom-left-radius:4px}' +
    '.system{align-self:center;background:#fff6ed;color:#93370d;font-size:13px;text-align:center;max-width:95%}' +
    '.who{display:block;font-size:11px;color:#667085;margin-bottom:2px}' +
    '.cites{margin-top:6px;font-size:12px}.cites a{color:#3b5bdb}' +
    '.fb{margin-top:6px;display:flex;gap:6px}.fb button,.csat button{border:1px solid #d0d5dd;background:#fff;border-radius:999px;padding:3px 9px;font-size:12px;cursor:pointer}' +
    '.fb button[aria-pressed=true]{background:#e0e7ff}' +
    '.typing{align-self:flex-start;color:#667085;font-size:12px;padding:4px 8px}' +
    '.csat{align-self:center;background:#fff;border:1px solid #e4e7ec;border-radius:12px;padding:10px;text-align:center}.csat div{display:flex;gap:4px;justify-content:center;margin-top:6px}' +
    'form{display:flex;gap:6px;padding:10px;border-top:1px solid #e4e7ec;background:#fff}' +
    'textarea{flex:1;resize:none;height:42px;border:1px solid #d0d5dd;border-radius:8px;padding:10px;font-size:14px}' +
    'form button{background:#3b5bdb;color:#fff;border:0;border-radius:8px;padding:0 14px;cursor:pointer}' +
    '.bar{display:flex;justify-content:space-between;align-items:center;padding:6px 12px;font-size:12px;color:#667085;background:#fff;border-top:1px solid #e4e7ec}' +
    '.bar button{border:0;background:none;color:#3b5bdb;cursor:pointer;font-size:12px;text-decoration:underline}' +
    '.error{color:#b42318}' +
    '@media (max-width:480px){.panel{right:0;bottom:0;width:100vw;max-width:100vw;height:100vh;max-height:100vh;border-radius:0}}' +
    '</style>' +
    '<button class="launcher" type="button" aria-label="Open chat with Relaymark support" aria-expanded="false"><svg width="28" height="28" viewBox="0 0 24 24" aria-hidden="true" fill="currentColor"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/></svg></button>' +
    '<section class="panel" role="dialog" aria-label="Chat with support" hidden>' +
    '<header><h2>Relaymark support</h2><button type="button" class="close" aria-label="Close chat">×</button></header>' +
    '<div class="log" role="log" aria-live="polite" aria-relevant="additions"></div>' +
    '<div class="bar"><span class="status">Connecting…</span><button type="button" class="human">Talk to a human</button></div>' +
    '<form><label for="rm-input" style="position:absolute;left:-9999px">Your message</label>' +
    '<textarea id="rm-input" placeholder="Ask a question…" maxlength="4000"></textarea><button type="submit">Send</button></form>' +
    '</section>';
  var $ = function (sel) { return root.querySelector(sel); };
  var launcher = $(".launcher"), panel = $(".panel"), log = $(".log"), input = $("textarea"), statusEl = $(".status");

  // ------------------------------------------------------------------ state
  var SYNC_MS = 4000; // how often a client still waiting for a reply asks for missed messages
  var ws = null, retry = 0, lastId = 0; // a fresh page load asks for the whole history; reconnects resume after lastId
  var rendered = {}, outbox = [], streams = {}, typingEl = null, conversation = null;

  function open() {
    panel.hidden = false; launcher.setAttribute("aria-expanded", "true");
    store.set("open", "1"); input.focus(); log.scrollTop = log.scrollHeight;
  }
  function close() {
    panel.hidden = true; launcher.setAttribute("aria-expanded", "false");
    store.set("open", "0"); launcher.focus(); send({ type: "close" });
  }
  launcher.addEventListener("click", function () { panel.hidden ? open() : close(); });
  $(".close").addEventListener("click", close);
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") close(); });
  $(".human").addEventListener("click", function () { send({ type: "human" }); });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); submit(); }
  });
  $("form").addEventListener("submit", function (e) { e.preventDefault(); submit(); });

  function submit() {
    var body = input.value.trim();
    if (!body) return;
    input.value = "";
    var clientId = "c" + Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
    var pending = { type: "message", client_id: clientId, body: body };
    outbox.push(pending);
    render({ id: null, client_id: clientId, sender: "customer", body: body, pending: true });
    send(pending);
  }

  function send(frame) {
    if (ws && ws.readyState === 1) ws.send(JSON.stringify(frame));
  }

  // ------------------------------------------------------------------ rendering
  function render(m) {
    if (m.id && rendered[m.id]) return;
    var existing = m.client_id ? log.querySelector('[data-client-id="' + CSS.escape(m.client_id) + '"]') : null;
    var el = existing || document.createElement("div");
    el.className = "msg " + m.sender;
    el.textContent = "";
    if (m.sender === "agent" || m.sender === "ai") {
      var who = document.createElement("span");
      who.className = "who";
      who.textContent = m.sender === "ai" ? "AI assistant" : (m.author || "Support team");
      el.appendChild(who);
    }
    el.appendChild(document.createTextNode(m.body));
    if (m.client_id) el.setAttribute("data-client-id", m.client_id);
    if (m.id) { el.setAttribute("data-id", m.id); rendered[m.id] = true; lastId = Math.max(lastId, m.id); }
    if (m.sender === "ai" && m.citations && m.citations.length) {
      var cites = document.createElement("div");
      cites.className = "cites";
      cites.appendChild(document.createTextNode("Source: "));
      m.citations.forEach(function (c, i) {
        var a = document.createElement("a");
        a.href = new URL(c.url, base).href; a.target = "_blank"; a.rel = "noopener"; a.textContent = c.title;
        if (i) cites.appendChild(document.createTextNode(", "));
        cites.appendChild(a);
      });
      el.appendChild(cites);
    }
    if (m.sender === "ai" && m.id && m.citations && m.citations.length) el.appendChild(feedback(m.id));
    if (!existing) log.appendChild(el);
    if (m.sender !== "customer") hideTyping();
    log.scrollTop = log.scrollHeight;
    return el;
  }

  function feedback(id) {
    var box = document.createElement("div");
    box.className = "fb";
    [["That helped", true], ["Not helpful", false]].forEach(function (opt) {
      var b = document.createElement("button");
      b.type = "button"; b.textContent = opt[0]; b.setAttribute("aria-pressed", "false");
      b.addEventListener("click", function () {
        send({ type: "feedback", message_id: id, helpful: opt[1] });
        box.querySelectorAll("button").forEach(function (x) { x.disabled = true; });
        b.setAttribute("aria-pressed", "true");
        // "Not helpful" on the latest answer: the assistant tries once more (or brings in a person).
        if (!opt[1] && box.parentNode === log.lastElementChild) { showTyping(); setTimeout(hideTyping, 15000); }
      });
      box.appendChild(b);
    });
    return box;
  }

  // While a reply is awaited, ask now and then for what was written since the last message seen:
  // the channel layer delivers a broadcast at most once, and a reply must never stay unseen.
  var syncTimer = null;
  function showTyping() {
    if (typingEl) return;
    typingEl = document.createElement("div");
    typingEl.className = "typing"; typingEl.textContent = "Assistant is typing…";
    log.appendChild(typingEl); log.scrollTop = log.scrollHeight;
    syncTimer = setInterval(function () { send({ type: "sync", last_message_id: lastId }); }, SYNC_MS);
  }
  function hideTyping() {
    if (syncTimer) { clearInterval(syncTimer); syncTimer = null; }
    if (typingEl) { typingEl.remove(); typingEl = null; }
  }

  function showCsat() {
    if (log.querySelector(".csat") || (conversation && conversation.csat)) return;
    var box = document.createElement("div");
    box.className = "csat";
    box.textContent = "How did we do?";
    var row = document.createElement("div");
    [1, 2, 3, 4, 5].forEach(function (n) {
      var b = document.createElement("button");
      b.type = "button"; b.textContent = "★ " + n; b.setAttribute("aria-label", n + " out of 5");
      b.addEventListener("click", function () { send({ type: "csat", score: n }); box.textContent = "Thanks for rating us!"; });
      row.appendChild(b);
    });
    box.appendChild(row); log.appendChild(box); log.scrollTop = log.scrollHeight;
  }

  function onStatus(s) {
    conversation = Object.assign(conversation || {}, s);
    if (s.status === "resolved") showCsat();
  }

  // ------------------------------------------------------------------ transport
  function page() {
    var p = { url: location.href, title: document.title, referrer: document.referrer };
    var extra = (window.RelaymarkChat && window.RelaymarkChat.page) || {};
    Object.keys(extra).forEach(function (k) { p[k] = extra[k]; });
    return p;
  }

  function connect() {
    ws = new WebSocket(wsUrl);
    ws.onopen = function () {
      retry = 0; statusEl.textContent = "Online";
      send({ type: "hello", visitor_token: store.get("token"), user: config.user || null, page: page(), last_message_id: lastId });
    };
    ws.onmessage = function (e) {
      var f; try { f = JSON.parse(e.data); } catch (err) { return; }
      if (f.type === "welcome") {
        if (f.visitor_token) store.set("token", f.visitor_token);
        conversation = f.conversation;
        f.messages.forEach(render);
        outbox.forEach(function (m) { send(m); }); // resend what was never acknowledged: idempotent by client_id
        if (conversation && conversation.status === "resolved") showCsat();
      } else if (f.type === "ack") {
        outbox = outbox.filter(function (m) { return m.client_id !== f.client_id; });
        render(f.message);
      } else if (f.type === "message") {
        var s = streams[f.message.id] || null;
        render(f.message);
        Object.keys(streams).forEach(function (k) { if (streams[k].el && !streams[k].el.getAttribute("data-id")) { streams[k].el.remove(); } });
        streams = {};
      } else if (f.type === "token") {
        var st = streams[f.stream_id];
        if (!st) { hideTyping(); st = streams[f.stream_id] = { el: document.createElement("div") }; st.el.className = "msg ai"; log.appendChild(st.el); }
        st.el.textContent += f.delta; log.scrollTop = log.scrollHeight;
      } else if (f.type === "history") {
        f.messages.forEach(render);
      } else if (f.type === "typing") {
        showTyping();
      } else if (f.type === "status") {
        onStatus(f);
      } else if (f.type === "error") {
        hideTyping();
        var err = document.createElement("div");
        err.className = "msg system error"; err.setAttribute("role", "alert"); err.textContent = f.message;
        log.appendChild(err); log.scrollTop = log.scrollHeight;
        if (f.client_id) outbox = outbox.filter(function (m) { return m.client_id !== f.client_id; });
      }
    };
    ws.onclose = function (e) {
      if (e.code === 4404 || e.code === 4403) { statusEl.textContent = "Chat unavailable on this site"; return; }
      statusEl.textContent = "Reconnecting…";
      retry = Math.min(retry + 1, 6);
      setTimeout(connect, 300 * Math.pow(2, retry - 1));
    };
  }

  // Single-page apps: record navigation in the session trail.
  ["pushState", "replaceState"].forEach(function (fn) {
    var orig = history[fn];
    history[fn] = function () { var r = orig.apply(this, arguments); send({ type: "page", page: page() }); return r; };
  });
  window.addEventListener("popstate", function () { send({ type: "page", page: page() }); });

  window.RelaymarkChatWidget = { open: open, close: close };
  connect();
  if (store.get("open") === "1") open();
})();
