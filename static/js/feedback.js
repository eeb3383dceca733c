// Feedback panel (templates/feedback/panel.html): every control saves on its own through htmx.
(() => {
  const panelOf = (elt) => elt && elt.closest && elt.closest(".feedback-panel");

  // Enter in a text field must not submit the panel: saving is per control.
  document.addEventListener("submit", (event) => {
    if (panelOf(event.target)) event.preventDefault();
  });

  // A 400 carries the panel with the error beside the field: show it (htmx skips 4xx by default).
  const offline = (elt, on) => {
    const note = panelOf(elt) && panelOf(elt).querySelector(".fb-offline");
    if (note) note.hidden = !on;
  };

  document.body.addEventListener("htmx:beforeSwap", (event) => {
    const status = event.detail.xhr.status;
    if (!panelOf(event.detail.elt) || status >= 500) return;
    offline(event.detail.elt, false);
    if (status === 400) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
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
