// A pairwise review by keyboard: a, b or t picks (and moves to the submit button, so Enter
// sends it), c writes a comment, Ctrl+Enter submits from anywhere, Esc leaves a text field.
// Without JavaScript the form is an ordinary one.
(() => {
  const root = document.getElementById("pair-review");
  if (!root) return;
  const form = document.getElementById("pair-form");
  const submit = document.getElementById("pair-submit");
  const typing = (el) =>
    !!el &&
    (el.tagName === "TEXTAREA" ||
      el.tagName === "SELECT" ||
      el.isContentEditable ||
      (el.tagName === "INPUT" && !["checkbox", "radio", "button", "submit", "reset"].includes(el.type)));
  const pick = (value) => {
    const radio = form.querySelector(`input[name=choice][value=${value}]`);
    if (!radio) return;
    radio.checked = true;
    submit.focus();
  };
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
      event.preventDefault();
      form.requestSubmit(submit);
      return;
    }
    if (event.key === "Escape") {
      if (typing(document.activeElement)) document.activeElement.blur();
      return;
    }
    if (typing(document.activeElement) || event.ctrlKey || event.metaKey || event.altKey) return;
    const keys = { a: "a", b: "b", t: "tie" };
    if (keys[event.key]) {
      event.preventDefault();
      pick(keys[event.key]);
    } else if (event.key === "c") {
      event.preventDefault();
      form.querySelector("textarea[name=comment]").focus();
    }
  });
  root.dataset.keysReady = "1";
})();
