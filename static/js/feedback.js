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
