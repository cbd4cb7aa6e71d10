// kindlab browser code: the terminal client, Run and Copy buttons, the live
// check list, the provisioning progress view and the instructor banner.
//
// A plain deferred script without a framework. It needs
// vendor/xterm.bundle.js (window.KindlabXterm) loaded before it, and finds
// everything it drives by data-* attributes rendered by package web.
//
// window.kindlab exposes the state browser tests rely on:
//   kindlab.lastSeq       sequence number of the last output chunk written
//   kindlab.connected     the terminal websocket is open and said hello
//   kindlab.state         "idle" | "connecting" | "connected" | "reconnecting" | "ended"
//   kindlab.readOnly      the server said this terminal is read-only
//   kindlab.reconnects    how many times the terminal reconnected
//   kindlab.termText()    the terminal's buffer (scrollback and screen) as text
//   kindlab.whenWritten() promise resolved once queued output is on screen
//   kindlab.sendInput(s)  types s into the terminal (queued while reconnecting)
//   kindlab.dropConnection() closes the websocket as a network failure would
//   kindlab.checks        {id: {status, message}} from the last "checks" event
//   kindlab.allPassed     the last "checks" event said every check passed
//   kindlab.eventsConnected  the Server-Sent Events stream is open
//   kindlab.lastEvent     {type, data} of the last event received
//
// A page start and the terminal's first connection leave User Timing marks
// (performance.mark) for anyone measuring a start: kindlab:scripts (this script
// starts, xterm.js loaded), kindlab:terminal (xterm.js built the terminal),
// kindlab:ws-open and kindlab:hello (the server said hello).
(function () {
  "use strict";

  const PROTOCOL = "kindlab.term.v1";
  const CLOSE_UNAUTHORIZED = 4001; // do not reconnect; show the message
  const CLOSE_TOO_SLOW = 4008; // the server dropped us for lagging: reconnect now
  const CLOSE_TOO_MANY = 4029; // this page is open in too many tabs: show why, retry slowly
  const TOO_MANY_RETRY_MS = 15000;
  const PING_EVERY_MS = 20000; // application-level {"type":"ping"}
  const DEAD_AFTER_MS = 50000; // nothing received for this long: reconnect
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 15000;
  const INTERRUPT_WAIT_MS = 300; // after Ctrl-C, let the prompt come back before typing

  // ---------------------------------------------------------------- test hooks

  const term = {
    client: null, // the TerminalClient once started
  };
  const live = {
    checks: {},
    allPassed: false,
    eventsConnected: false,
    lastEvent: null,
  };

  window.kindlab = {
    get lastSeq() { return term.client ? term.client.lastSeq : 0; },
    get connected() { return term.client ? term.client.connected : false; },
    get state() { return term.client ? term.client.state : "idle"; },
    get readOnly() { return term.client ? term.client.readOnly : false; },
    get reconnects() { return term.client ? term.client.reconnects : 0; },
    get term() { return term.client ? term.client.term : null; },
    termText() { return term.client ? term.client.text() : ""; },
    whenWritten() { return term.client ? term.client.whenWritten() : Promise.resolve(); },
    sendInput(data) { if (term.client) term.client.type(data); },
    dropConnection() { if (term.client) term.client.drop(); },
    get checks() { return live.checks; },
    get allPassed() { return live.allPassed; },
    get eventsConnected() { return live.eventsConnected; },
    get lastEvent() { return live.lastEvent; },
  };

  // ------------------------------------------------------------------ helpers

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $$(selector, root) { return Array.from((root || document).querySelectorAll(selector)); }
  function byTestId(id, root) { return $('[data-testid="' + CSS.escape(id) + '"]', root); }
  function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }
  // markOnce leaves a User Timing mark the first time it is called with name.
  function markOnce(name) {
    if (window.performance && performance.mark && performance.getEntriesByName(name, "mark").length === 0) performance.mark(name);
  }

  function debounce(fn, ms) {
    let timer = 0;
    return function () {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    };
  }

  function parseJSON(text) {
    try { return JSON.parse(text); } catch (_) { return null; }
  }

  // flashButton shows a short confirmation on a button, then restores it.
  function flashButton(btn, label, cls) {
    if (!btn.dataset.label) btn.dataset.label = btn.textContent;
    clearTimeout(Number(btn.dataset.flashTimer || 0));
    btn.textContent = label;
    btn.classList.add(cls);
    btn.dataset.flashTimer = String(setTimeout(() => {
      btn.textContent = btn.dataset.label;
      btn.classList.remove(cls);
    }, 1400));
  }

  // ----------------------------------------------------------------- terminal

  // TerminalClient speaks kindlab.term.v1 over a websocket to the learner's
  // shell and draws it with xterm.js.
  //
  // Output arrives in binary frames: an 8-byte big-endian sequence number, then
  // the bytes. Sequence numbers grow by chunk; the client remembers the last one
  // written (lastSeq) and sends it in its hello when it (re)connects, so the
  // server replays exactly what was missed. A replayed chunk the client already
  // has (seq <= lastSeq) is dropped: nothing is ever printed twice.
  class TerminalClient {
    constructor(el, xterm) {
      this.el = el;
      this.url = wsURL(el.dataset.wsUrl);
      this.token = el.dataset.token || "";
      this.lastSeq = 0;
      this.epoch = ""; // the server's name for the stream lastSeq counts in
      this.serverSeq = 0;
      this.connected = false;
      this.readOnly = false;
      this.state = "idle";
      this.reconnects = 0;
      this.ws = null;
      this.attempt = 0; // failed attempts since the last hello, for backoff
      this.retryTimer = 0;
      this.pingTimer = 0;
      this.lastReceived = 0;
      this.exited = false; // the shell exited: wait for the learner
      this.stopped = false; // unauthorized or the page is going away
      this.lastError = "";
      this.queue = []; // {data, wait}: input typed by Run buttons, kept while offline
      this.pumping = false;
      this.sentSize = "";

      // Connect first: the websocket's handshake goes on while xterm.js builds
      // the terminal below (a few hundred ms on a small machine); its events
      // are handled once the constructor is done.
      this.connect();
      this.term = new xterm.Terminal({
        cursorBlink: true,
        fontFamily: '"JetBrains Mono", "Cascadia Code", "Fira Code", ui-monospace, SFMono-Regular, Menlo, Consolas, monospace',
        fontSize: 14,
        lineHeight: 1.15,
        scrollback: 5000,
        theme: TERMINAL_THEME,
      });
      this.fit = new xterm.FitAddon();
      this.term.loadAddon(this.fit);
      this.term.open(el);
      this.refit();

      // Keystrokes go straight out; while offline they are dropped (typing into
      // a dead connection and having it replayed later would surprise).
      this.term.onData((data) => {
        if (this.connected && !this.readOnly) this.send({ type: "input", data: data });
      });
      this.term.onBinary((data) => {
        if (this.connected && !this.readOnly) this.send({ type: "input", data: data });
      });
      this.term.onResize(() => this.sendSize());

      const refit = debounce(() => this.refit(), 120);
      window.addEventListener("resize", refit);
      if (window.ResizeObserver) new ResizeObserver(refit).observe(el);
      window.addEventListener("online", () => { if (!this.ws && !this.stopped && !this.exited) this.connect(); });
      window.addEventListener("pagehide", () => { this.stopped = true; if (this.ws) this.ws.close(1000, "page closed"); });
    }

    refit() {
      if (!this.el.offsetParent) return; // hidden: xterm cannot measure
      try { this.fit.fit(); } catch (_) { /* not measurable yet */ }
    }

    connect() {
      clearTimeout(this.retryTimer);
      if (this.ws) return;
      this.setState(this.reconnects > 0 || this.attempt > 0 ? "reconnecting" : "connecting");
      let ws;
      try {
        ws = new WebSocket(this.url, PROTOCOL);
      } catch (_) {
        this.retry();
        return;
      }
      ws.binaryType = "arraybuffer";
      this.ws = ws;
      this.lastError = "";
      // Handlers ignore a socket that is no longer the current one.
      ws.onopen = () => {
        if (ws !== this.ws) return;
        markOnce("kindlab:ws-open");
        this.lastReceived = Date.now();
        // hello first: the token from the page and the last chunk we have.
        this.send({ type: "hello", token: this.token, lastSeq: this.lastSeq, epoch: this.epoch });
      };
      ws.onmessage = (ev) => {
        if (ws !== this.ws) return;
        this.lastReceived = Date.now();
        if (typeof ev.data === "string") this.onControl(parseJSON(ev.data));
        else this.onOutput(ev.data);
      };
      ws.onclose = (ev) => {
        if (ws !== this.ws) return;
        this.ws = null;
        this.connected = false;
        clearInterval(this.pingTimer);
        this.onClose(ev);
      };
      ws.onerror = () => { /* onclose follows with the code */ };
    }

    // onOutput writes one binary frame: seq (uint64, big-endian) + bytes.
    onOutput(buf) {
      if (!(buf instanceof ArrayBuffer) || buf.byteLength < 8) return;
      const dv = new DataView(buf);
      // Two 32-bit halves: exact up to 2^53, and no BigInt needed.
      const seq = dv.getUint32(0) * 4294967296 + dv.getUint32(4);
      if (seq <= this.lastSeq) return; // already written before a reconnect
      this.lastSeq = seq;
      if (buf.byteLength > 8) this.term.write(new Uint8Array(buf, 8));
    }

    onControl(msg) {
      if (!msg || typeof msg.type !== "string") return;
      switch (msg.type) {
        case "hello":
          markOnce("kindlab:hello");
          this.connected = true;
          this.readOnly = !!msg.readOnly;
          this.term.options.disableStdin = this.readOnly;
          this.serverSeq = Number(msg.seq) || 0;
          // A new shell (kindlab restarted, the cluster was replaced): the
          // server sends all of it from the first chunk, starting with the
          // earlier terminal's output, so the screen starts again too.
          if (msg.epoch && this.epoch && msg.epoch !== this.epoch) {
            this.term.reset();
            this.lastSeq = 0;
          }
          this.epoch = String(msg.epoch || "");
          // The server's stream is behind what we have seen: it is a new
          // terminal (the shell or the server restarted). Start counting anew.
          if (this.serverSeq < this.lastSeq) {
            this.lastSeq = 0;
            this.notice("a new terminal session started");
          }
          if (this.attempt > 0 || this.state === "reconnecting") this.reconnects++;
          this.attempt = 0;
          if (this.refused) this.showMessage(""); // the refusal is over
          this.refused = false;
          this.setState("connected");
          setHidden(byTestId("terminal-readonly"), !this.readOnly);
          setHidden(byTestId("terminal-reconnect"), true);
          this.sentSize = "";
          this.sendSize();
          clearInterval(this.pingTimer);
          this.pingTimer = setInterval(() => this.keepAlive(), PING_EVERY_MS);
          this.pump();
          break;
        case "gap":
          // The replay buffer no longer holds everything after our lastSeq;
          // output continues at msg.from.
          this.notice("some output was lost while you were disconnected");
          break;
        case "pong":
          break;
        case "exit":
          this.exited = true;
          this.setState("ended", "Shell exited" + (msg.code !== undefined ? " (code " + msg.code + ")" : ""));
          setHidden(byTestId("terminal-reconnect"), false);
          break;
        case "error":
          this.lastError = String(msg.message || "");
          this.showMessage(this.lastError);
          break;
      }
    }

    onClose(ev) {
      if (ev.code === CLOSE_UNAUTHORIZED) {
        this.stopped = true;
        this.setState("ended", "Not connected");
        this.showMessage(this.lastError || ev.reason ||
          "This terminal isn't available to you any more. Reload the page, or start the lab again from the catalog.");
        setHidden(byTestId("terminal-reconnect"), true);
        return;
      }
      if (this.stopped) return;
      if (this.exited) {
        setHidden(byTestId("terminal-reconnect"), false);
        return;
      }
      if (ev.code === CLOSE_TOO_MANY) {
        // Too many live connections for this session or address: say so
        // where the learner looks, and try again slowly.
        this.refused = true;
        this.showMessage(ev.reason);
        this.setState("reconnecting", "Waiting for a free connection…");
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => this.connect(), TOO_MANY_RETRY_MS);
        return;
      }
      if (ev.code === CLOSE_TOO_SLOW) {
        // Our connection could not keep up; the replay buffer has the rest.
        this.attempt = 0;
        this.setState("reconnecting");
        this.retryTimer = setTimeout(() => this.connect(), 250);
        return;
      }
      this.retry();
    }

    // retry reconnects with exponential backoff and jitter.
    retry() {
      this.ws = null;
      const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, this.attempt));
      const delay = Math.round(base * (0.75 + Math.random() * 0.5));
      this.attempt++;
      this.setState("reconnecting", "Reconnecting in " + Math.max(1, Math.round(delay / 1000)) + " s…");
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.connect(), delay);
    }

    keepAlive() {
      if (!this.ws) return;
      if (Date.now() - this.lastReceived > DEAD_AFTER_MS) {
        this.drop(); // silently dead (e.g. a sleeping laptop): start over
        return;
      }
      this.send({ type: "ping" });
    }

    // drop closes the socket the way a network failure would; it reconnects.
    drop() {
      const ws = this.ws;
      if (!ws) return;
      this.ws = null;
      this.connected = false;
      clearInterval(this.pingTimer);
      try { ws.close(4000, "client reconnect"); } catch (_) { /* already closing */ }
      this.retry();
    }

    // reconnectNow is the Reconnect button: after an exit or a failure.
    reconnectNow() {
      this.exited = false;
      this.attempt = 0;
      setHidden(byTestId("terminal-reconnect"), true);
      this.showMessage("");
      if (this.ws) this.drop();
      else this.connect();
    }

    send(msg) {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
      this.ws.send(JSON.stringify(msg));
      return true;
    }

    sendSize() {
      const size = this.term.cols + "x" + this.term.rows;
      if (!this.connected || size === this.sentSize) return;
      if (this.send({ type: "resize", cols: this.term.cols, rows: this.term.rows })) this.sentSize = size;
    }

    // type queues input as if typed (Run buttons). wait is a pause after it.
    type(data, wait) {
      if (this.readOnly) {
        this.showMessage("This terminal is read-only.");
        return;
      }
      if (this.queue.length >= 32) this.queue.shift(); // bounded: drop the oldest
      this.queue.push({ data: data, wait: wait || 0 });
      this.pump();
    }

    // pump sends queued input in order while connected, honouring the pauses.
    async pump() {
      if (this.pumping) return;
      this.pumping = true;
      try {
        while (this.queue.length > 0 && this.connected) {
          const item = this.queue[0];
          if (!this.send({ type: "input", data: item.data })) break;
          this.queue.shift();
          if (item.wait) await sleep(item.wait);
        }
      } finally {
        this.pumping = false;
      }
    }

    // run types a command and presses Enter; interrupt presses Ctrl-C first.
    run(command, interrupt) {
      if (interrupt) this.type("\x03", INTERRUPT_WAIT_MS);
      // Continuation lines are typed as separate lines, as a person would.
      this.type(command.replace(/\r?\n/g, "\r") + "\r");
      this.term.focus();
    }

    notice(text) {
      this.term.write("\r\n\x1b[2m[kindlab: " + text + "]\x1b[0m\r\n");
    }

    text() {
      const buf = this.term.buffer.active;
      const lines = [];
      for (let i = 0; i < buf.length; i++) {
        const line = buf.getLine(i);
        if (!line) continue;
        const s = line.translateToString(true);
        // A wrapped line continues the previous one: join them back.
        if (line.isWrapped && lines.length > 0) lines[lines.length - 1] += s;
        else lines.push(s);
      }
      return lines.join("\n").replace(/\s+$/, "");
    }

    whenWritten() {
      return new Promise((resolve) => this.term.write("", resolve));
    }

    statusText() {
      switch (this.state) {
        case "connected": return this.readOnly ? "Connected (read-only)" : "Connected";
        case "connecting": return "Connecting…";
        case "reconnecting": return "Reconnecting…";
        case "ended": return "Disconnected";
      }
      return "";
    }

    setState(state, text) {
      this.state = state;
      const el = byTestId("terminal-status");
      if (!el) return;
      el.dataset.state = state;
      const label = $("[data-status-text]", el);
      if (label) label.textContent = text || this.statusText();
      if (state === "connected") this.showMessage("");
    }

    showMessage(text) {
      const el = byTestId("terminal-message");
      if (!el) return;
      el.textContent = text;
      setHidden(el, !text);
    }
  }

  // wsURL makes the websocket URL from a path on the page's own host.
  function wsURL(path) {
    const u = new URL(path || "", window.location.href);
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    return u.toString();
  }

  const TERMINAL_THEME = {
    background: "#0d1424",
    foreground: "#dbe4f3",
    cursor: "#8ab4ff",
    cursorAccent: "#0d1424",
    selectionBackground: "#33507d",
    black: "#1b2435",
    red: "#ff7b86",
    green: "#7ee2a8",
    yellow: "#f3d37a",
    blue: "#82aaff",
    magenta: "#d7a6ff",
    cyan: "#7fdbea",
    white: "#dbe4f3",
    brightBlack: "#5d6b85",
    brightRed: "#ff9aa3",
    brightGreen: "#a2f0c4",
    brightYellow: "#ffe49e",
    brightBlue: "#a8c5ff",
    brightMagenta: "#e4c2ff",
    brightCyan: "#a5ecf5",
    brightWhite: "#ffffff",
  };

  function startTerminal() {
    const el = byTestId("terminal");
    if (!el) return;
    const xterm = window.KindlabXterm;
    if (!xterm) {
      const msg = byTestId("terminal-message");
      if (msg) {
        msg.textContent = "The terminal could not load. Reload the page.";
        setHidden(msg, false);
      }
      return;
    }
    term.client = new TerminalClient(el, xterm); // it connects at once
    markOnce("kindlab:terminal");
  }

  // ------------------------------------------------------------- page buttons

  function setHidden(el, hidden) {
    if (el) el.hidden = hidden;
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(() => legacyCopy(text));
    }
    return new Promise((resolve) => resolve(legacyCopy(text)));
  }

  // legacyCopy copies through a hidden textarea (plain-http pages have no
  // navigator.clipboard).
  function legacyCopy(text) {
    const ta = document.createElement("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.className = "offscreen";
    document.body.appendChild(ta);
    ta.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (_) { ok = false; }
    ta.remove();
    if (!ok) throw new Error("copy failed");
  }

  function onClick(ev) {
    const btn = ev.target.closest("button");
    if (!btn) return;

    if (btn.hasAttribute("data-run")) {
      if (!term.client) return;
      term.client.run(btn.dataset.command || "", btn.dataset.interrupt === "true");
      flashButton(btn, term.client.connected ? "✓ Sent" : "✓ Queued", "is-done");
      return;
    }
    if (btn.hasAttribute("data-copy")) {
      const block = btn.closest(".codeblock");
      const code = block && $("code", block);
      if (!code) return;
      copyText(code.textContent.replace(/\n$/, "")).then(
        () => flashButton(btn, "Copied!", "is-done"),
        () => flashButton(btn, "Press Ctrl-C", "is-failed"),
      );
      return;
    }
    if (btn.hasAttribute("data-dismiss")) {
      setHidden(btn.closest(".banner, .flash"), true);
      return;
    }
    if (btn.hasAttribute("data-reconnect")) {
      if (term.client) term.client.reconnectNow();
    }
  }

  // Forms: data-confirm asks first; every submit button is disabled after the
  // submit so a double click does not start two labs.
  function onSubmit(ev) {
    const form = ev.target;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      ev.preventDefault();
      return;
    }
    $$("button[type=submit]", form).forEach((b) => {
      if (b.dataset.busyLabel) b.textContent = b.dataset.busyLabel;
      setTimeout(() => { b.disabled = true; }, 0); // after the submit is on its way
    });
  }

  // ----------------------------------------------------------- server events

  // startEvents subscribes to the session's Server-Sent Events. EventSource
  // reconnects by itself after network errors; if the server refused the
  // stream (readyState CLOSED), retry slowly.
  function startEvents() {
    const root = $("[data-events-url]");
    if (!root || !window.EventSource) return;
    const url = root.dataset.eventsUrl;
    let es = null;
    let refused = false; // the banner shows a refusal of this stream
    const open = () => {
      es = new EventSource(url);
      es.onopen = () => { live.eventsConnected = true; };
      es.onerror = () => {
        live.eventsConnected = false;
        if (es.readyState === EventSource.CLOSED) setTimeout(open, 5000);
      };
      const on = (type, fn) => es.addEventListener(type, (ev) => {
        const data = parseJSON(ev.data);
        if (!data) return;
        if (refused && type !== "refused") { // a stream was let in: the refusal is over
          refused = false;
          onMessage({ text: "" });
        }
        live.lastEvent = { type: type, data: data };
        fn(data);
      });
      on("checks", onChecks);
      on("progress", onProgress);
      on("message", onMessage);
      on("saving", onSaving);
      // The learner's budget stopped a pod of theirs (evicted, out of memory):
      // said where they look, since it happens away from their terminal.
      on("limit", (d) => onMessage({ text: "Your cluster hit a limit: " + (d.text || "") }));
      // Refused: too many live connections. The server asks for a slow retry.
      on("refused", (d) => {
        refused = true;
        onMessage({ text: d.message || "" });
      });
    };
    open();
    window.addEventListener("pagehide", () => { if (es) es.close(); });
  }

  // onChecks: {"step":N,"results":[{"id","status","message"}],"allPassed":bool}
  function onChecks(d) {
    const page = byTestId("lab-page");
    if (!page || Number(d.step) !== Number(page.dataset.step)) return; // another step's
    (Array.isArray(d.results) ? d.results : []).forEach((r) => {
      const status = ["pass", "fail", "error"].includes(r.status) ? r.status : "pending";
      live.checks[r.id] = { status: status, message: r.message || "" };
      const el = $('[data-check-id="' + CSS.escape(String(r.id)) + '"]', page);
      if (!el) return;
      if (el.dataset.status !== status) {
        el.dataset.status = status;
        el.classList.remove("changed");
        void el.offsetWidth; // restart the highlight animation
        el.classList.add("changed");
      }
      const msg = $(".check-msg", el);
      if (msg) msg.textContent = r.message || "";
      const sr = $(".check-status-text", el);
      if (sr) sr.textContent = STATUS_TEXT[status];
    });
    updateSummary(page);

    live.allPassed = !!d.allPassed;
    page.dataset.allPassed = String(live.allPassed);
    if (live.allPassed) {
      // Once revealed the way on stays: learners may move freely anyway.
      $$("[data-reveal-on-pass]", page).forEach((el) => setHidden(el, false));
      const current = $('.step-dot[aria-current="step"]', page);
      if (current) current.dataset.passed = "true";
    }
  }

  const STATUS_TEXT = { pass: "passed", fail: "not yet", error: "could not run", pending: "waiting" };

  function updateSummary(page) {
    const summary = byTestId("checks-summary", page);
    if (!summary) return;
    const all = $$(".check", page);
    const passing = all.filter((c) => c.dataset.status === "pass").length;
    summary.textContent = passing === all.length ? "all passing" : passing + " of " + all.length + " passing";
  }

  // onProgress: {"stage","label","done","queue","error"} while the cluster is
  // prepared; stage is the stage's id, label its words.
  function onProgress(d) {
    const box = byTestId("progress");
    if (!box) { onNewCluster(d); return; }
    const list = byTestId("progress-stages", box);
    const stage = String(d.stage || "");
    let items = $$(".stage", list);
    let idx = items.findIndex((li) => li.dataset.stage === stage);
    if (idx < 0 && stage) {
      list.appendChild(stageItem(stage, d.label || stage));
      items = $$(".stage", list);
      idx = items.length - 1;
    }
    items.forEach((li, i) => {
      let state = "pending";
      if (d.done || i < idx) state = "done";
      else if (i === idx) state = d.error ? "failed" : "active";
      li.dataset.state = state;
      li.className = "stage stage-" + state;
    });

    const queue = byTestId("queue-position", box);
    const n = Number(d.queue) || 0;
    if (queue) {
      queue.dataset.queue = String(n);
      const num = $("[data-queue-number]", queue);
      if (num) num.textContent = String(n);
      setHidden(queue, n <= 0);
    }

    const err = byTestId("progress-error", box);
    if (err) {
      const msg = $("[data-error-message]", err);
      if (msg) msg.textContent = d.error || "";
      setHidden(err, !d.error);
    }
    box.dataset.state = d.done ? "done" : d.error ? "failed" : n > 0 ? "queued" : "waiting";
    if (d.done && !d.error) window.location.reload();
  }

  // onNewCluster follows, on the lab page, a cluster being replaced (lost, or
  // Start this step again) or waited for (its node restarting): its stages in
  // the terminal bar, then a reload onto the cluster. The progress a page gets when it subscribes ("done")
  // changes nothing.
  let renewing = false;
  function onNewCluster(d) {
    const status = byTestId("reset-status");
    if (!d.done || d.error) renewing = true;
    if (!renewing || !status) return;
    const queue = Number(d.queue) || 0;
    status.textContent = d.error ? d.error
      : d.done ? "Your cluster is ready, reloading…"
      : (d.label || "Starting") + (queue > 0 ? " (#" + queue + " in the queue)" : "") + "…";
    status.dataset.state = d.error ? "failed" : d.done ? "done" : "active";
    setHidden(status, false);
    if (d.done && !d.error) setTimeout(() => window.location.reload(), 600);
  }

  function stageItem(id, name) {
    const li = document.createElement("li");
    li.dataset.stage = id;
    const icon = document.createElement("span");
    icon.className = "stage-icon";
    icon.setAttribute("aria-hidden", "true");
    const label = document.createElement("span");
    label.className = "stage-name";
    label.textContent = name;
    li.append(icon, label);
    return li;
  }

  // onMessage: {"text"} an instructor's broadcast, shown in the banner.
  function onMessage(d) {
    const banner = byTestId("message-banner");
    if (!banner) return;
    const text = byTestId("message-text", banner);
    if (text) text.textContent = d.text || "";
    setHidden(banner, !d.text);
    // A terminal that has ended (its cluster stopped, say) shows kindlab's
    // words too, where the learner is looking.
    const c = term.client;
    if (c && c.exited && d.text) c.term.write("\r\n\x1b[1;33m[kindlab] " + String(d.text).replace(/[\x00-\x1f\x7f]/g, "") + "\x1b[0m\r\n");
  }

  // onSaving: {"delayed","text"} whether kindlab's writes reach its database.
  // A delay stays on screen until it is over; "saved again" fades after 5 s.
  let savingTimer = 0;
  function onSaving(d) {
    const banner = byTestId("saving-banner");
    if (!banner) return;
    const text = byTestId("saving-text", banner);
    if (text) text.textContent = d.text || "";
    banner.dataset.delayed = d.delayed ? "true" : "false";
    setHidden(banner, !d.text);
    clearTimeout(savingTimer);
    if (!d.delayed) savingTimer = setTimeout(() => setHidden(banner, true), 5000);
  }

  // --------------------------------------------------------------------- start

  function start() {
    markOnce("kindlab:scripts");
    document.addEventListener("click", onClick);
    document.addEventListener("submit", onSubmit);
    startTerminal();
    startEvents();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
