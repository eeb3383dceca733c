// The top navigation on narrow screens: a Menu button shows and hides it. Without this script the
// button stays hidden and the menu simply wraps under the name, so every link stays reachable.
(function () {
  "use strict";

  function setUp(nav) {
    var toggle = nav.querySelector(".nav-toggle");
    if (!toggle || !document.getElementById(toggle.getAttribute("aria-controls"))) return;

    function setOpen(open) {
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    }

    toggle.hidden = false;
    nav.classList.add("nav-collapsible");
    toggle.addEventListener("click", function () {
      setOpen(toggle.getAttribute("aria-expanded") !== "true");
    });
    nav.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && toggle.getAttribute("aria-expanded") === "true") {
        setOpen(false);
        toggle.focus();
      }
    });
  }

  document.querySelectorAll("[data-nav]").forEach(setUp);
})();
