// Copy buttons: <button data-copy="ID" hidden> copies the text of #ID and says "Copied" in the
// [data-copy-status] beside it. Without JavaScript the button stays hidden; the text can be
// selected by hand.
(function () {
  "use strict";

  function reveal(root) {
    root.querySelectorAll("button[data-copy][hidden]").forEach(function (button) {
      button.hidden = false;
    });
  }

  function say(button, text) {
    var status = button.parentElement.querySelector("[data-copy-status]");
    if (status) {
      status.textContent = "";
      // A fresh text node, so screen readers announce it again on a second click.
      window.setTimeout(function () { status.textContent = text; }, 50);
    }
  }

  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function fallback(button, element) {
    selectText(element);
    var copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (e) {
      copied = false;
    }
    say(button, copied ? "Copied" : "Selected: press Ctrl+C (⌘C) to copy");
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) return;
    var element = document.getElementById(button.dataset.copy);
    if (!element) return;
    var text = element.textContent.trim();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { say(button, "Copied"); },
        function () { fallback(button, element); }
      );
    } else {
      fallback(button, element);
    }
  });

  document.addEventListener("DOMContentLoaded", function () { reveal(document); });
  // New content from htmx (a token just created) brings its own button.
  document.addEventListener("htmx:load", function (event) { reveal(event.target); });
})();
