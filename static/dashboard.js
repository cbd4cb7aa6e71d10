// kindlab instructor dashboard: keeps the learner grid and the capacity panel
// live over the dashboard's websocket and submits the action forms (broadcast,
// reset, fast-forward, extend) with fetch, showing the reply in a toast.
//
// A plain deferred script without a framework, loaded by the Dashboard page
// next to app.js. It drives #grid[data-live-url] and forms with data-action.
//
// Messages from the server (JSON text frames):
//   {"type":"grid","html":"..."}   the DashboardGrid fragment: replaces #grid's content
//   {"type":"capacity","warm":N,"paused":N,"claimed":N,"creating":N,"queue":N,"max":N,"memAvailableMiB":N}
//
// window.kindlabDashboard exposes the state browser tests rely on:
//   kindlabDashboard.connected   the websocket is open
//   kindlabDashboard.updates     how many grid messages were applied
//   kindlabDashboard.lastGridAt  Date.now() of the last grid message, 0 before
//   kindlabDashboard.capacity    the last capacity message, or null
(function () {
  "use strict";

  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 15000;
  const CLOSE_UNAUTHORIZED = 4001; // signed out: do not reconnect
  const CLOSE_TOO_MANY = 4029; // too many live connections: say why, retry slowly
  const TOO_MANY_RETRY_MS = 15000;
  const TOAST_MS = 6000;

  const state = {
    connected: false,
    updates: 0,
    lastGridAt: 0,
    capacity: null,
  };
  window.kindlabDashboard = {
    get connected() { return state.connected; },
    get updates() { return state.updates; },
    get lastGridAt() { return state.lastGridAt; },
    get capacity() { return state.capacity; },
  };

  function $(selector, root) { return (root || document).querySelector(selector); }
  function byTestId(id, root) { return $('[data-testid="' + CSS.escape(id) + '"]', root); }

  function wsURL(path) {
    const u = new URL(path || "", window.location.href);
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    return u.toString();
  }

  // ------------------------------------------------------------ live status

  function setStatus(s, text) {
    const el = byTestId("live-status");
    if (!el) return;
    el.dataset.state = s;
    const t = $("[data-live-text]", el);
    if (t) t.textContent = text;
  }

  // ------------------------------------------------------------------- grid

  let pendingHTML = null; // a grid update held while a grid control has focus

  // applyGrid swaps the grid fragment in. While the instructor is choosing in
  // a grid form (a focused select or input), the newest fragment waits until
  // focus leaves it so the control is not pulled away mid-choice.
  function applyGrid(grid, html) {
    state.updates++;
    state.lastGridAt = Date.now();
    const active = document.activeElement;
    if (active && grid.contains(active) && (active.tagName === "SELECT" || active.tagName === "INPUT")) {
      pendingHTML = html;
      return;
    }
    pendingHTML = null;
    grid.innerHTML = html;
  }

  function flushPending(grid) {
    if (pendingHTML === null) return;
    const html = pendingHTML;
    pendingHTML = null;
    grid.innerHTML = html;
  }

  // --------------------------------------------------------------- capacity

  function num(v) { return typeof v === "number" && isFinite(v) ? v : null; }

  function setText(id, text) {
    const el = byTestId(id);
    if (el) el.textContent = text;
  }

  function formatMiB(mib) {
    if (mib === null) return "–";
    if (mib >= 1024) return (mib / 1024).toFixed(1) + " GiB";
    return Math.round(mib) + " MiB";
  }

  function applyCapacity(m) {
    state.capacity = m;
    const show = (v) => (num(v) === null ? "–" : String(v));
    setText("capacity-warm", num(m.paused) ? m.warm + " (" + m.paused + " paused)" : show(m.warm));
    setText("capacity-claimed", show(m.claimed));
    setText("capacity-creating", show(m.creating));
    setText("capacity-queue", show(m.queue));
    setText("capacity-memory", formatMiB(num(m.memAvailableMiB)));
    const max = $("[data-capacity-max]");
    if (max) max.textContent = num(m.max) === null ? "" : " / " + m.max;
    const panel = byTestId("capacity");
    if (panel) panel.dataset.queue = String(num(m.queue) || 0);
  }

  // -------------------------------------------------------------- websocket

  function startLive() {
    const grid = $("#grid[data-live-url]");
    if (!grid) return;
    const url = wsURL(grid.dataset.liveUrl);
    let attempt = 0;
    let timer = 0;
    let stopped = false;
    let current = null;
    window.addEventListener("pagehide", () => { stopped = true; if (current) current.close(); });

    grid.addEventListener("focusout", () => setTimeout(() => {
      if (!grid.contains(document.activeElement)) flushPending(grid);
    }, 0));

    function connect() {
      clearTimeout(timer);
      let ws;
      try {
        ws = new WebSocket(url);
      } catch (_) {
        retry();
        return;
      }
      ws.onopen = () => {
        state.connected = true;
        attempt = 0;
        setStatus("connected", "Live");
      };
      ws.onmessage = (ev) => {
        if (typeof ev.data !== "string") return;
        let msg;
        try { msg = JSON.parse(ev.data); } catch (_) { return; }
        if (!msg || typeof msg.type !== "string") return;
        switch (msg.type) {
          case "grid":
            if (typeof msg.html === "string") applyGrid(grid, msg.html);
            break;
          case "capacity":
            applyCapacity(msg);
            break;
        }
      };
      ws.onerror = () => { /* onclose follows */ };
      ws.onclose = (ev) => {
        state.connected = false;
        if (stopped) return;
        if (ev.code === CLOSE_UNAUTHORIZED) {
          stopped = true;
          setStatus("ended", "Signed out: reload the page");
          return;
        }
        if (ev.code === CLOSE_TOO_MANY) {
          setStatus("reconnecting", ev.reason || "Too many live connections: retrying");
          timer = setTimeout(connect, TOO_MANY_RETRY_MS);
          return;
        }
        retry();
      };
      current = ws;
    }

    function retry() {
      const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, attempt));
      attempt++;
      const wait = base / 2 + Math.random() * base / 2;
      setStatus("reconnecting", "Reconnecting…");
      timer = setTimeout(connect, wait);
    }

    setStatus("connecting", "Connecting…");
    connect();
  }

  // ------------------------------------------------------------------ toast

  let toastTimer = 0;

  function toast(text, isError) {
    const el = byTestId("toast");
    if (!el) return;
    el.textContent = text;
    el.dataset.kind = isError ? "error" : "info";
    el.classList.toggle("toast-error", !!isError);
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.hidden = true; }, TOAST_MS);
  }

  // ------------------------------------------------------------ action forms

  // onSubmit handles forms with data-action: it runs in the capture phase on
  // window, before app.js's document listener (which would confirm a second
  // time and disable the buttons for a page load that never comes).
  function onSubmit(ev) {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-action")) return;
    ev.preventDefault();
    ev.stopImmediatePropagation();
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    send(form);
  }

  async function send(form) {
    const buttons = Array.from(form.querySelectorAll("button[type=submit]"));
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const res = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      let reply = null;
      try { reply = await res.json(); } catch (_) { reply = null; }
      const message = reply && typeof reply.message === "string" ? reply.message : "";
      if (!res.ok) {
        const err = (reply && typeof reply.error === "string" && reply.error) || message;
        toast(err || "That did not work (" + res.status + "). Try again.", true);
        return;
      }
      toast(message || "Done.", false);
      if (form.hasAttribute("data-reset-on-success")) form.reset();
    } catch (_) {
      toast("Could not reach kindlab. Check your connection and try again.", true);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  // ------------------------------------------------------------ copy buttons

  function onClick(ev) {
    const btn = ev.target.closest("button[data-copy-value]");
    if (!btn) return;
    const text = btn.dataset.copyValue || "";
    const done = () => toast("Copied the join link.", false);
    const failed = () => toast("Could not copy: select the link and press Ctrl-C.", true);
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, failed);
      return;
    }
    const ta = document.createElement("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.className = "offscreen";
    document.body.appendChild(ta);
    ta.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (_) { ok = false; }
    ta.remove();
    if (ok) done(); else failed();
  }

  function start() {
    window.addEventListener("submit", onSubmit, true);
    document.addEventListener("click", onClick);
    startLive();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
