// The reviewer's screen: keyboard shortcuts, drafts saved on the server as you type,
// and "submit and next" that first makes sure everything typed has been sent.
(() => {
  const root = document.getElementById("review");
  if (!root) return;
  const panel = () => root.querySelector("[data-testid=feedback-panel]");
  const help = document.getElementById("review-help");
  const submitForm = document.getElementById("review-submit-form");
  const draftStatus = document.getElementById("draft-status");
  const draftUrl = root.dataset.draftUrl;
  const csrf = (() => {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["x-csrftoken"] || "";
    } catch (e) {
      return "";
    }
  })();

  // --- drafts ---------------------------------------------------------------------------
  const TEXT = "textarea[name], input[type=text][name]";
  const draftData = () => {
    const data = {};
    const form = panel();
    if (!form) return data;
    form.querySelectorAll(TEXT).forEach((field) => {
      data[field.name] = field.value;
    });
    return data;
  };
  let draftTimer = null;
  let lastDraft = JSON.stringify(draftData());
  const saveDraft = (keepalive = false) => {
    clearTimeout(draftTimer);
    const json = JSON.stringify(draftData());
    if (json === lastDraft) return Promise.resolve();
    const body = new URLSearchParams({ data: json });
    return fetch(draftUrl, {
      method: "POST",
      headers: { "X-CSRFToken": csrf },
      body,
      keepalive,
      credentials: "same-origin",
    })
      .then((response) => {
        if (!response.ok) throw new Error(String(response.status));
        lastDraft = json;
        if (draftStatus) draftStatus.textContent = "Draft saved";
      })
      .catch(() => {
        if (draftStatus) draftStatus.textContent = "Draft not saved yet: retrying as you type";
      });
  };
  root.addEventListener("input", (event) => {
    if (!event.target.matches(TEXT)) return;
    clearTimeout(draftTimer);
    draftTimer = setTimeout(saveDraft, 500);
  });
  // A save may clear fields (an added missing source): keep the draft in step with the page.
  document.body.addEventListener("htmx:afterSettle", () => {
    clearTimeout(draftTimer);
    draftTimer = setTimeout(saveDraft, 500);
  });
  window.addEventListener("pagehide", () => saveDraft(true));
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") saveDraft(true);
  });

  // Put back what was typed last time but never reached the feedback log, and send it.
  const restoreDraft = () => {
    const source = document.getElementById("review-draft");
    const form = panel();
    if (!source || !form) return;
    let draft = {};
    try {
      draft = JSON.parse(source.textContent) || {};
    } catch (e) {
      return;
    }
    let restored = 0;
    Object.entries(draft).forEach(([name, value]) => {
      if (typeof value !== "string") return;
      const field = form.querySelector(`[name="${CSS.escape(name)}"]`);
      if (!field || !field.matches(TEXT) || field.value === value) return;
      field.value = value;
      restored += 1;
      const box = field.closest("details");
      if (box) box.open = true;
      if (field.hasAttribute("hx-post")) field.dispatchEvent(new Event("change", { bubbles: true }));
    });
    lastDraft = JSON.stringify(draftData());
    if (restored && draftStatus) draftStatus.textContent = "Restored your unsent draft";
  };

  // --- waiting for the panel's saves ----------------------------------------------------
  let inFlight = 0;
  document.body.addEventListener("htmx:beforeRequest", () => {
    inFlight += 1;
  });
  document.body.addEventListener("htmx:afterRequest", () => {
    inFlight = Math.max(0, inFlight - 1);
  });
  // Idle twice in a row: a save queued behind another (hx-sync) starts just after the first ends.
  const idle = (timeoutMs = 10000) =>
    new Promise((resolve) => {
      const started = Date.now();
      let quiet = 0;
      const check = () => {
        quiet = inFlight === 0 ? quiet + 1 : 0;
        if (quiet >= 2 || Date.now() - started > timeoutMs) resolve();
        else setTimeout(check, 60);
      };
      setTimeout(check, 30);
    });

  // The panel saves text when a field is left (or on Ctrl+Enter); "submit and next" may come
  // straight from a field being typed in, so the submit carries the text fields and the server
  // records what has not arrived yet.
  let submitting = false;
  const submitReview = async () => {
    if (submitting || !submitForm) return;
    submitting = true;
    await saveDraft();
    await idle();
    const typed = submitForm.querySelector("input[name=typed]");
    if (typed) typed.value = JSON.stringify(draftData());
    submitForm.submit();
  };
  if (submitForm) {
    submitForm.addEventListener("submit", (event) => {
      if (submitting) return;
      event.preventDefault();
      submitReview();
    });
  }

  // --- keyboard -------------------------------------------------------------------------
  const typing = (el) =>
    !!el &&
    (el.tagName === "TEXTAREA" ||
      el.tagName === "SELECT" ||
      el.isContentEditable ||
      (el.tagName === "INPUT" && !["checkbox", "radio", "button", "submit", "reset"].includes(el.type)));
  const click = (selector, scope = root) => {
    const el = scope.querySelector(selector);
    if (el) el.click();
    return !!el;
  };
  // "Next" is a link along the reviewer's own path, or a form that reserves the next item (a POST).
  const go = (id) => {
    const link = document.getElementById(id);
    if (!link) return;
    saveDraft(true);
    if (link.form) link.form.requestSubmit(link);
    else window.location.assign(link.href);
  };
  const focusField = (testid) => {
    const field = root.querySelector(`[data-testid=${testid}]`);
    if (!field) return;
    const box = field.closest("details");
    if (box) box.open = true;
    field.focus();
    field.setSelectionRange(field.value.length, field.value.length);
  };
  const chunks = () => Array.from(root.querySelectorAll("[data-testid=chunk]"));
  const focusedChunk = () => document.activeElement && document.activeElement.closest("[data-testid=chunk]");
  const moveChunk = (step) => {
    const list = chunks();
    if (!list.length) return;
    const index = list.indexOf(focusedChunk());
    const next = list[Math.min(list.length - 1, Math.max(0, index + step))];
    next.focus();
    next.scrollIntoView({ block: "nearest" });
  };
  // Only the rating buttons are swapped by the save, so the focus stays on the passage.
  const rateChunk = (chunk, value) =>
    click(value === "relevant" ? "[data-testid=chunk-relevant]" : "[data-testid=chunk-not-relevant]", chunk);
  const toggleHelp = () => {
    if (!help) return;
    if (help.open) help.close();
    else help.showModal();
  };
  document.getElementById("review-help-open")?.addEventListener("click", toggleHelp);
  help?.querySelector("[data-close-help]")?.addEventListener("click", () => help.close());

  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
      event.preventDefault();
      submitReview();
      return;
    }
    if (event.key === "Escape") {
      if (help && help.open) return; // the dialog closes itself
      if (typing(document.activeElement)) document.activeElement.blur();
      return;
    }
    if (typing(document.activeElement) || event.ctrlKey || event.metaKey || event.altKey) return;
    if (help && help.open && event.key !== "?") return;
    const chunk = focusedChunk();
    let handled = true;
    switch (event.key) {
      case "j":
        go("review-next");
        break;
      case "k":
        go("review-prev");
        break;
      case "1":
        if (chunk) rateChunk(chunk, "relevant");
        else click("[data-testid=thumbs-up]");
        break;
      case "2":
        if (chunk) rateChunk(chunk, "not_relevant");
        else click("[data-testid=thumbs-down]");
        break;
      case "r":
      case "i":
        if (chunk) rateChunk(chunk, event.key === "r" ? "relevant" : "not_relevant");
        else handled = false;
        break;
      case "c":
        focusField("feedback-comment");
        break;
      case "e":
        focusField("feedback-correction");
        break;
      case "f":
        chunks()[0]?.focus();
        break;
      case "ArrowDown":
        if (chunk) moveChunk(1);
        else handled = false;
        break;
      case "ArrowUp":
        if (chunk) moveChunk(-1);
        else handled = false;
        break;
      case "?":
        toggleHelp();
        break;
      default:
        handled = false;
    }
    if (handled) event.preventDefault();
  });

  // The panel is a form of its own saves; Enter in one of its text inputs must not submit it.
  root.addEventListener("submit", (event) => {
    if (event.target.matches("[data-testid=feedback-panel]")) event.preventDefault();
  });

  // After htmx has bound the panel (it starts on DOMContentLoaded), so restored text is sent.
  const start = () =>
    setTimeout(() => {
      restoreDraft();
      // For people and tests alike: the shortcuts work from here on.
      root.dataset.keysReady = "1";
    }, 0);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
