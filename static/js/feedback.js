// Feedback panel (templates/feedback/panel.html): every control saves on its own through htmx.
// Text fields save on blur or Ctrl+Enter; while the reviewer types, only a draft is kept on the
// server (never feedback), so a reload gives back what was typed and not saved yet.
(() => {
  const panelOf = (elt) => elt && elt.closest && elt.closest(".feedback-panel");
  const TEXT = "textarea[name], input[type=text][name]";
  const DRAFT_DELAY_MS = 600;

  const csrf = () => {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["x-csrftoken"] || "";
    } catch (e) {
      return "";
    }
  };

  // Enter in a text field must not submit the panel: saving is per control.
  document.addEventListener("submit", (event) => {
    if (panelOf(event.target)) event.preventDefault();
  });

  // Ctrl+Enter in a text field saves it and keeps the focus there. (No htmx trigger filter: the
  // content security policy forbids the eval those need.)
  document.addEventListener("keydown", (event) => {
    const field = event.target;
    if (!(event.ctrlKey || event.metaKey) || event.key !== "Enter") return;
    if (!panelOf(field) || !field.matches(TEXT) || !field.hasAttribute("hx-post")) return;
    htmx.trigger(field, "save");
  });

  // --- drafts -----------------------------------------------------------------------------
  const timers = new Map(); // field element -> pending draft timer
  const statusOf = (field) => {
    const target = field.getAttribute("hx-target");
    return target ? document.querySelector(target) : null;
  };
  const showDraftHint = (field) => {
    const status = statusOf(field);
    if (!status || status.querySelector("[data-testid=draft-hint]")) return;
    status.querySelectorAll("[data-testid=saved]").forEach((mark) => mark.remove());
    const hint = document.createElement("span");
    hint.className = "fb-draft-hint";
    hint.dataset.testid = "draft-hint";
    hint.textContent = "Draft — not saved yet";
    status.prepend(hint);
  };
  const sendDraft = (field, keepalive = false) => {
    clearTimeout(timers.get(field));
    timers.delete(field);
    const form = panelOf(field);
    if (!form || !form.dataset.draftUrl) return;
    fetch(form.dataset.draftUrl, {
      method: "POST",
      headers: { "X-CSRFToken": csrf() },
      body: new URLSearchParams({ field: field.name, text: field.value }),
      credentials: "same-origin",
      keepalive,
    }).catch(() => {}); // the next keystroke sends it again; the field itself still holds the text
  };
  document.addEventListener("input", (event) => {
    const field = event.target;
    if (!panelOf(field) || !field.matches(TEXT)) return;
    if (field.hasAttribute("hx-post")) showDraftHint(field);
    clearTimeout(timers.get(field));
    timers.set(
      field,
      setTimeout(() => sendDraft(field), DRAFT_DELAY_MS),
    );
  });
  // The field is being saved: a draft written after the save would outlive it.
  document.body.addEventListener("htmx:beforeRequest", (event) => {
    const field = event.detail.elt;
    if (timers.has(field)) {
      clearTimeout(timers.get(field));
      timers.delete(field);
    }
  });
  // Leaving the page with a draft still waiting: send it now.
  window.addEventListener("pagehide", () => {
    Array.from(timers.keys()).forEach((field) => sendDraft(field, true));
  });

  // --- the correction, compared with the answer while it is edited ------------------------
  const TOKENS = /\s+|[^\s]+/g;
  const MAX_CELLS = 4000000; // beyond that, comparing live would stall typing
  const wordDiff = (before, after) => {
    const a = before.match(TOKENS) || [];
    const b = after.match(TOKENS) || [];
    if ((a.length + 1) * (b.length + 1) > MAX_CELLS) return null;
    const width = b.length + 1;
    const lcs = new Uint32Array((a.length + 1) * width);
    for (let i = a.length - 1; i >= 0; i -= 1) {
      for (let j = b.length - 1; j >= 0; j -= 1) {
        lcs[i * width + j] =
          a[i] === b[j] ? lcs[(i + 1) * width + j + 1] + 1 : Math.max(lcs[(i + 1) * width + j], lcs[i * width + j + 1]);
      }
    }
    const ops = [];
    const push = (op, text) => {
      const last = ops[ops.length - 1];
      if (last && last[0] === op) last[1] += text;
      else ops.push([op, text]);
    };
    let i = 0;
    let j = 0;
    while (i < a.length && j < b.length) {
      if (a[i] === b[j]) {
        push("equal", a[i]);
        i += 1;
        j += 1;
      } else if (lcs[(i + 1) * width + j] >= lcs[i * width + j + 1]) {
        push("delete", a[i]);
        i += 1;
      } else {
        push("insert", b[j]);
        j += 1;
      }
    }
    while (i < a.length) push("delete", a[i++]);
    while (j < b.length) push("insert", b[j++]);
    return ops;
  };
  const liveDiffTimers = new Map();
  const showLiveDiff = (editor) => {
    const box = document.getElementById(editor.getAttribute("aria-describedby") || "");
    if (!box) return;
    const target = box.querySelector("[data-testid=correction-live-diff]");
    const ops = wordDiff(editor.dataset.answer || "", editor.value);
    target.replaceChildren();
    if (ops === null) {
      target.textContent = "Too long to compare while typing; the comparison appears once saved.";
    } else {
      ops.forEach(([op, text]) => {
        const node = document.createElement(op === "insert" ? "ins" : op === "delete" ? "del" : "span");
        node.textContent = text;
        target.append(node);
      });
    }
    box.hidden = false;
  };
  document.addEventListener("input", (event) => {
    const editor = event.target;
    if (!panelOf(editor) || !editor.matches("[data-testid=feedback-correction]")) return;
    clearTimeout(liveDiffTimers.get(editor));
    liveDiffTimers.set(
      editor,
      setTimeout(() => showLiveDiff(editor), 250),
    );
  });
  // Saved: the saved comparison below takes over.
  document.body.addEventListener("htmx:beforeRequest", (event) => {
    const editor = event.detail.elt;
    if (!editor.matches || !editor.matches("[data-testid=feedback-correction]")) return;
    clearTimeout(liveDiffTimers.get(editor));
    const box = document.getElementById(editor.getAttribute("aria-describedby") || "");
    if (box) box.hidden = true;
  });

  // --- offline ----------------------------------------------------------------------------
  const offline = (elt, on) => {
    const note = panelOf(elt) && panelOf(elt).querySelector(".fb-offline");
    if (note) note.hidden = !on;
  };

  // An answer came back (a saved panel, or a 4xx with the error beside the field): online again.
  document.body.addEventListener("htmx:afterRequest", (event) => {
    const xhr = event.detail.xhr;
    if (panelOf(event.detail.elt) && xhr && xhr.status && xhr.status < 500) offline(event.detail.elt, false);
  });

  // The server could not be reached: keep what was typed (nothing is swapped) and send it again.
  const retry = (event) => {
    const elt = event.detail.elt;
    if (!panelOf(elt)) return;
    offline(elt, true);
    setTimeout(() => {
      if (document.body.contains(elt)) htmx.trigger(elt, elt.tagName === "BUTTON" ? "click" : "change");
    }, 3000);
  };
  document.body.addEventListener("htmx:sendError", retry);
  document.body.addEventListener("htmx:responseError", (event) => {
    if (event.detail.xhr.status >= 500) retry(event);
  });
})();
