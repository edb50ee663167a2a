/* Staff inbox: live updates over ws/inbox/, presence, desktop notifications, keyboard shortcuts.
 *
 * The server renders everything; this file only decides WHEN to re-fetch a partial (htmx.ajax)
 * and never builds HTML from event data, so customer text can't reach the DOM unescaped.
 */
(function () {
  "use strict";

  // Refused actions (400 bad input, 409 stale version) come back as a re-rendered partial that
  // explains why; swap them like a success instead of dropping them.
  htmx.config.responseHandling = [
    { code: "204", swap: false },
    { code: "[23]..", swap: true },
    { code: "40[09]", swap: true, error: false },
    { code: "[45]..", swap: false, error: true },
  ];

  const listPage = document.getElementById("inbox-page");
  const convoPage = document.getElementById("conversation-page");
  const page = listPage || convoPage;
  if (!page) return;
  const me = page.dataset.me || "";
  const conversationId = convoPage ? Number(convoPage.dataset.conversationId) : null;

  // ------------------------------------------------------------ re-fetching partials

  const timers = {};

  function regionUrl(name) {
    if (name === "list") return page.dataset.listUrl + location.search;
    if (name === "counts") return page.dataset.countsUrl + location.search;
    return convoPage.dataset.partUrl.replace("PART", name);
  }

  const selectors = { list: "#conversation-list", counts: "#queue-counts", head: "#convo-head",
                      thread: "#thread", draft: "#draft-panel" };

  // A region is busy while the agent types in it or has changed a form in it without submitting;
  // a live refresh then waits, so it never eats what they are writing. (If they submit on top of a
  // teammate's change, the version check answers 409 with the fresh state instead.)
  function busy(el) {
    if (!el) return false;
    const active = document.activeElement;
    if (active && el.contains(active) && active.matches("input, textarea, select")) return true;
    return Array.from(el.querySelectorAll("input:not([type=hidden]), textarea, select")).some(function (c) {
      if (c.tagName === "SELECT") {
        const initial = Array.from(c.options).findIndex(function (o) { return o.defaultSelected; });
        return c.selectedIndex !== Math.max(initial, 0);
      }
      if (c.type === "checkbox" || c.type === "radio") return c.checked !== c.defaultChecked;
      return c.value !== c.defaultValue;
    });
  }

  function later(name, el) {
    el.addEventListener("focusout", function () { refresh(name); }, { once: true });
  }

  // Debounced so a burst of events (message + conversation_changed) is one request.
  function refresh(name) {
    clearTimeout(timers[name]);
    timers[name] = setTimeout(function () {
      const el = document.querySelector(selectors[name]);
      if (!el) return;
      if (busy(el)) return later(name, el);
      // The region is the request's source, so each region queues its own refreshes: with one
      // shared source (htmx's default, the body) a list refresh in flight let a later one
      // replace the queued counts refresh, and the counts went stale.
      htmx.ajax("GET", regionUrl(name), { source: el, target: selectors[name], swap: "outerHTML",
                                           headers: { "X-Live-Refresh": name } });
    }, 50);
  }

  // The agent may have started typing while the refresh was in flight: keep their input.
  document.body.addEventListener("htmx:beforeSwap", function (e) {
    const cfg = e.detail.requestConfig;
    const name = cfg && cfg.headers && cfg.headers["X-Live-Refresh"];
    if (!name) return;
    const el = document.querySelector(selectors[name]);
    if (busy(el)) { e.detail.shouldSwap = false; later(name, el); }
  });

  // ------------------------------------------------------------ notifications

  const notifyBtn = document.getElementById("notify-btn");
  if (notifyBtn && "Notification" in window && Notification.permission === "default") {
    notifyBtn.hidden = false;
    notifyBtn.addEventListener("click", function () {
      Notification.requestPermission().then(function () { notifyBtn.hidden = true; });
    });
  }

  const notified = new Set(JSON.parse(sessionStorage.getItem("inbox-notified") || "[]"));

  function notify(key, title, body, url) {
    if (notified.has(key)) return;
    notified.add(key);
    sessionStorage.setItem("inbox-notified", JSON.stringify(Array.from(notified).slice(-200)));
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    const n = new Notification(title, { body: body, tag: key });
    n.onclick = function () { window.focus(); location.href = url; };
  }

  // ------------------------------------------------------------ the socket

  let socket = null;
  let backoff = 1000;

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws/inbox/");
    socket.onopen = function () {
      backoff = 1000;
      // Events sent while the socket was down are gone: catch up once it is back.
      if (page.dataset.live === "false") Object.keys(selectors).forEach(refresh);
      page.dataset.live = "true";
      if (conversationId) socket.send(JSON.stringify({ type: "watch", conversation_id: conversationId }));
    };
    socket.onmessage = function (e) {
      let event;
      try { event = JSON.parse(e.data); } catch (err) { return; }
      handle(event);
    };
    socket.onclose = function (e) {
      page.dataset.live = "false";
      if (e.code === 4401) return; // signed out: reconnecting will not help
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 30000);
    };
  }

  function handle(event) {
    const id = event.conversation_id;
    switch (event.type) {
      case "conversation_changed":
        if (listPage) { refresh("list"); refresh("counts"); }
        if (id === conversationId) {
          if (event.version !== undefined) { refresh("head"); refresh("thread"); }
          else if (event.sender === "note") refresh("thread"); // notes are not sent to the thread's group
        }
        if (event.needs_human && event.status === "open") {
          notify("handoff-" + id, "A customer needs a human", "Conversation #" + id, "/inbox/c/" + id + "/");
        }
        break;
      case "draft":
        if (listPage) refresh("list");
        if (id === conversationId) refresh("draft");
        break;
      case "message":
        if (event.message && event.message.conversation_id === conversationId) refresh("thread");
        break;
      case "status":
        if (id === conversationId) { refresh("head"); refresh("thread"); }
        break;
      case "viewers":
        showViewers(event.names || []);
        break;
      case "mention":
        notify("mention-" + id + "-" + Date.now(), (event.by || "A teammate") + " mentioned you",
               "Conversation #" + id, "/inbox/c/" + id + "/");
        break;
    }
  }

  function showViewers(names) {
    const el = document.getElementById("viewers");
    if (!el) return;
    const others = names.filter(function (n) { return n !== me; });
    el.textContent = others.length === 0 ? "" :
      others.join(" and ") + (others.length === 1 ? " is" : " are") + " also viewing";
  }

  if ("WebSocket" in window) connect();

  // The channel layer delivers at most once; a slow safety refresh means a lost event leaves the
  // queue stale for half a minute at worst, not until the agent reloads.
  if (listPage) {
    setInterval(function () {
      if (document.visibilityState === "visible") { refresh("list"); refresh("counts"); }
    }, 30000);
  }

  // ------------------------------------------------------------ keyboard

  let selected = -1;

  function rows() { return Array.from(document.querySelectorAll("#conversation-list tr[data-href]")); }

  function select(delta) {
    const all = rows();
    if (!all.length) return;
    selected = Math.max(0, Math.min(all.length - 1, selected + delta));
    all.forEach(function (r, i) { r.classList.toggle("selected", i === selected); });
    const link = all[selected].querySelector("a");
    if (link) link.focus();
    all[selected].scrollIntoView({ block: "nearest" });
  }

  function click(selector) {
    const el = document.querySelector(selector);
    if (el) el.click();
  }

  const help = document.getElementById("shortcuts-help");
  function toggleHelp(show) { if (help) help.hidden = show === undefined ? !help.hidden : !show; }
  document.addEventListener("click", function (e) {
    if (e.target.closest("[data-close-help]")) toggleHelp(false);
  });

  document.addEventListener("keydown", function (e) {
    const target = e.target;
    const typing = target.closest && target.closest("input, textarea, select, [contenteditable]");
    if (typing) {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && target.form) {
        e.preventDefault();
        target.form.requestSubmit();
      } else if (e.key === "Escape") {
        target.blur();
      }
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    switch (e.key) {
      case "j": select(+1); break;
      case "k": select(-1); break;
      case "Enter": {
        const all = rows();
        if (all[selected] && !target.closest("a, button")) location.href = all[selected].dataset.href;
        return;
      }
      case "r": {
        const box = document.getElementById("reply-body");
        if (!box) return;
        box.focus();
        break;
      }
      case "s": click("#draft-send"); break;
      case "e": click("#resolve-btn"); break;
      case "a": click("#assign-me-btn"); break;
      case "?": toggleHelp(); break;
      case "Escape": toggleHelp(false); return;
      default: return;
    }
    e.preventDefault();
  });

  // Whole rows are click targets in the list, not just the subject link.
  document.addEventListener("click", function (e) {
    const row = e.target.closest && e.target.closest("#conversation-list tr[data-href]");
    if (row && !e.target.closest("a, button, input, select")) location.href = row.dataset.href;
  });

  // ------------------------------------------------------------ composer helpers

  // Macros arrive filled in by the server (data-body, as text: never parsed as HTML). A variable
  // the server did not know stays in the text as typed; it is flagged until the agent replaces it.
  const unfilled = new Set();

  function flagUnfilled() {
    const box = document.getElementById("reply-body");
    const warning = document.getElementById("macro-warning");
    if (!box || !warning) return;
    unfilled.forEach(function (v) { if (box.value.indexOf(v) === -1) unfilled.delete(v); });
    warning.hidden = unfilled.size === 0;
    warning.textContent = unfilled.size === 0 ? "" :
      "Not filled in: " + Array.from(unfilled).join(", ") + ". Replace it before sending.";
  }

  document.addEventListener("change", function (e) {
    if (e.target.id !== "macro-select") return;
    const option = e.target.selectedOptions[0];
    const box = document.getElementById("reply-body");
    if (option && option.dataset.body && box) {
      box.value = box.value ? box.value.replace(/\s*$/, "\n\n") + option.dataset.body : option.dataset.body;
      let unknown = [];
      try { unknown = JSON.parse(option.dataset.unknown || "[]"); } catch (err) { unknown = []; }
      unknown.forEach(function (v) { unfilled.add(v); });
      flagUnfilled();
      box.focus();
    }
    e.target.value = "";
  });

  document.addEventListener("input", function (e) {
    if (e.target.id === "reply-body" && unfilled.size) flagUnfilled();
  });
  // A sent reply gets a fresh composer (hx-swap-oob): nothing is left to flag.
  document.body.addEventListener("htmx:afterSettle", function () { if (unfilled.size) flagUnfilled(); });

  // Entity tagging: turn the text selected inside a customer message into a "start,end,LABEL" line.
  document.addEventListener("click", function (e) {
    const button = e.target.closest && e.target.closest(".use-selection");
    if (!button) return;
    const form = button.form;
    const body = document.querySelector('[data-body-for="' + button.dataset.message + '"]');
    const sel = window.getSelection();
    if (!body || !sel.rangeCount || sel.isCollapsed || !body.contains(sel.anchorNode)) {
      alert("Select some text in the customer's message first.");
      return;
    }
    const range = sel.getRangeAt(0);
    const before = document.createRange();
    before.setStart(body, 0);
    before.setEnd(range.startContainer, range.startOffset);
    const start = before.toString().length;
    const end = start + range.toString().length;
    const label = (form.querySelector(".entity-label").value || "ENTITY").trim().toUpperCase();
    const spans = form.querySelector("textarea[name=spans]");
    spans.value = (spans.value.trim() ? spans.value.trim() + "\n" : "") + start + "," + end + "," + label;
  });
})();
