// The dashboard's behaviour: live regions fed by server-sent events, a staleness indicator,
// and the buttons that call the JSON API with the API key (kept in sessionStorage).
// Loaded as a file (the Content-Security-Policy allows no inline script).
"use strict";

(function () {
  const KEY = "orchestrator.apiKey";
  const body = document.body;
  const statusEl = document.getElementById("live-status");
  const alertEl = document.getElementById("alerts");
  const noticeEl = document.getElementById("notice");
  const forgetEl = document.querySelector("[data-forget-key]");
  const pending = new Map(); // region name -> HTML held back while focus is inside it
  const shown = new Map(); // region name -> the HTML it shows (a reconnect resends it all)

  // ---- the API key -------------------------------------------------------------------------
  function storedKey() {
    try {
      return sessionStorage.getItem(KEY) || "";
    } catch (e) {
      return "";
    }
  }

  function storeKey(key) {
    try {
      if (key) sessionStorage.setItem(KEY, key);
      else sessionStorage.removeItem(KEY);
    } catch (e) {
      /* storage refused (private mode): the key lives for this request only */
    }
    forgetEl.hidden = !key;
  }

  function askKey() {
    const dialog = document.getElementById("key-dialog");
    const input = document.getElementById("key-input");
    input.value = "";
    return new Promise(function (resolve) {
      dialog.addEventListener(
        "close",
        function () {
          const key = dialog.returnValue === "ok" ? input.value.trim() : "";
          resolve(key);
        },
        { once: true }
      );
      dialog.returnValue = "";
      dialog.showModal();
      input.focus();
    });
  }

  // ---- messages ----------------------------------------------------------------------------
  function fail(message) {
    noticeEl.textContent = "";
    alertEl.textContent = message;
    alertEl.classList.add("shown");
  }

  function tell(message) {
    alertEl.textContent = "";
    alertEl.classList.remove("shown");
    noticeEl.textContent = message;
  }

  async function problemOf(response) {
    try {
      const problem = await response.json();
      return problem.detail || problem.title || response.statusText;
    } catch (e) {
      return response.statusText;
    }
  }

  // ---- buttons -----------------------------------------------------------------------------
  async function act(button) {
    const what = button.dataset.what || "this action";
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
    let key = storedKey();
    if (!key && body.dataset.auth === "key") {
      key = await askKey();
      if (!key) {
        fail("Not done: " + what + " needs the API key, and none was given.");
        return;
      }
      storeKey(key);
    }
    const headers = { Accept: "application/json" };
    if (key) {
      headers.Authorization = "Bearer " + key;
      forgetEl.hidden = false;
    }
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    let response;
    try {
      response = await fetch(button.dataset.url, {
        method: button.dataset.action,
        headers: headers,
        credentials: "same-origin",
      });
    } catch (e) {
      fail("Not done: " + what + " failed, the server could not be reached (" + e.message + ").");
      return;
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
    if (response.ok) {
      const row = button.closest("tr");
      if (row) row.classList.add("done");
      tell(button.dataset.done || "Done.");
      noticeEl.focus(); // off the button, so that its live region may be redrawn
      return;
    }
    const detail = await problemOf(response);
    if (response.status === 401) {
      storeKey("");
      body.dataset.auth = "key"; // ask next time
      fail("Not done: the server refused " + what + " (401: " + detail + "). Enter the API key and try again.");
      return;
    }
    fail("Not done: " + what + " failed (" + response.status + ": " + detail + ").");
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("button[data-action]");
    if (button) {
      event.preventDefault();
      act(button);
    } else if (event.target.closest("[data-close-dialog]")) {
      event.target.closest("dialog").close("cancel");
    } else if (event.target.closest("[data-forget-key]")) {
      storeKey("");
      tell("The API key was forgotten.");
    }
  });

  document.addEventListener("change", function (event) {
    const field = event.target.closest("[data-autosubmit]");
    if (field && field.form) field.form.requestSubmit();
  });

  // ---- live regions ------------------------------------------------------------------------
  let lastAt = null;
  let every = 10;
  let staleTimer = null;

  function show(state, text) {
    statusEl.dataset.state = state;
    statusEl.textContent = text;
  }

  function clock(iso) {
    const at = new Date(iso);
    return at.toISOString().slice(11, 19) + " UTC";
  }

  function watch() {
    clearTimeout(staleTimer);
    staleTimer = setTimeout(function () {
      if (lastAt) show("stale", "Stale · no update since " + clock(lastAt));
      else show("stale", "Stale · cannot reach the server");
    }, every * 3000);
  }

  function fresh(iso, seconds) {
    lastAt = iso;
    every = seconds || every;
    show("live", "Live · updated " + clock(iso));
    watch();
  }

  function swap(name, html) {
    const region = document.querySelector('[data-region="' + name + '"]');
    if (!region || shown.get(name) === html) return;
    if (region.contains(document.activeElement)) {
      pending.set(name, html); // never pull the focused control from under the keyboard
      return;
    }
    pending.delete(name);
    shown.set(name, html);
    region.innerHTML = html;
    region.dispatchEvent(new CustomEvent("dashboard:swapped", { bubbles: true }));
  }

  document.addEventListener("focusout", function () {
    setTimeout(function () {
      pending.forEach(function (html, name) {
        swap(name, html);
      });
    }, 0);
  });

  function connect(url) {
    const source = new EventSource(url);
    source.addEventListener("update", function (event) {
      const data = JSON.parse(event.data);
      Object.keys(data.regions).forEach(function (name) {
        swap(name, data.regions[name]);
      });
      fresh(data.at, data.every);
    });
    source.addEventListener("alive", function (event) {
      const data = JSON.parse(event.data);
      fresh(data.at, data.every);
    });
    source.addEventListener("stale", function (event) {
      const data = JSON.parse(event.data);
      clearTimeout(staleTimer);
      show("stale", "Stale · " + data.reason + (lastAt ? "; last update " + clock(lastAt) : ""));
    });
    source.addEventListener("error", function () {
      // A stream ends every few seconds by design and the browser reconnects: only a closed
      // source is stale at once; otherwise the timer says so if no update comes in time.
      if (source.readyState === EventSource.CLOSED) {
        show("stale", "Stale · disconnected" + (lastAt ? "; last update " + clock(lastAt) : ""));
      }
    });
    watch();
  }

  storeKey(storedKey());
  if (body.dataset.live) connect(body.dataset.live);
  else show("static", "");
})();
