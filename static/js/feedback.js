// Feedback panel (templates/feedback/panel.html): every control saves on its own through htmx.
(() => {
  const panelOf = (elt) => elt && elt.closest && elt.closest(".feedback-panel");

  // Enter in a text field must not submit the panel: saving is per control.
  document.addEventListener("submit", (event) => {
    if (panelOf(event.target)) event.preventDefault();
  });

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
