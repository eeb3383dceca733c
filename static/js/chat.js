// The chat screen (templates/chat/chat.html): stream a turn's answer into the page as it comes.
// The form still works without this file (a normal POST). Text from the chain is only ever set
// with textContent, so HTML in an answer stays inert; the finished turn is rendered by the server.
(() => {
  "use strict";

  const form = () => document.getElementById("chat-form");
  const box = () => document.getElementById("chat-message");

  function showError(text) {
    const el = document.getElementById("chat-error");
    if (el) el.textContent = text || "";
  }

  function setBusy(busy) {
    const button = form()?.querySelector("button[type=submit]");
    if (!button) return;
    button.disabled = busy;
    button.setAttribute("aria-busy", busy ? "true" : "false");
  }

  // Server-sent events from a fetch body: calls onEvent(name, data) for each complete event.
  async function readEvents(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let name = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) name = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
        }
        if (data.length) onEvent(name, JSON.parse(data.join("\n")));
      }
    }
  }

  function rememberConversation(id) {
    if (!id) return;
    const url = new URL(window.location.href);
    url.searchParams.set("c", id);
    url.searchParams.delete("q");
    history.replaceState(history.state, "", url);
  }

  // Long messages fold behind "Show more" (a real button that says whether it is open).
  const FOLD_FACTOR = 1.4;
  let folds = 0;
  function fold(root) {
    for (const text of root.querySelectorAll(".chat-turn .msg-text:not([aria-busy=true])")) {
      if (text.dataset.foldChecked) continue;
      text.dataset.foldChecked = "1";
      text.classList.add("folded");
      if (text.scrollHeight <= text.clientHeight * FOLD_FACTOR) {
        text.classList.remove("folded");
        continue;
      }
      if (!text.id) text.id = `message-${++folds}`;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "outline secondary small show-more";
      button.dataset.testid = "show-more";
      button.setAttribute("aria-controls", text.id);
      button.setAttribute("aria-expanded", "false");
      button.textContent = "Show more";
      button.addEventListener("click", () => {
        const open = text.classList.toggle("folded") === false;
        button.setAttribute("aria-expanded", open ? "true" : "false");
        button.textContent = open ? "Show less" : "Show more";
      });
      text.after(button);
    }
  }

  // On narrow screens the list of conversations opens from its button (CSS hides it otherwise).
  function collapsibleConversations(root) {
    const nav = root.querySelector?.("#conversations") || (root.id === "conversations" ? root : null);
    if (!nav || nav.classList.contains("collapsible")) return;
    const toggle = nav.querySelector(".chat-conversations-toggle");
    if (!toggle) return;
    nav.classList.add("collapsible");
    toggle.hidden = false;
    toggle.addEventListener("click", () => {
      const open = nav.classList.toggle("open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }

  function enhance(root) {
    fold(root);
    collapsibleConversations(root);
  }

  function pendingTurn(text) {
    const article = document.getElementById("pending-turn").content.firstElementChild.cloneNode(true);
    article.querySelector("[data-testid=question]").textContent = text;
    document.querySelector("#turns .chat-empty")?.remove();
    document.getElementById("turns").appendChild(article);
    article.scrollIntoView({ block: "end", behavior: "smooth" });
    return article;
  }

  // A failure before the server could log the turn (network down, server error): keep the text.
  function localFailure(article, text, message) {
    const answer = article.querySelector("[data-testid=answer]");
    answer.removeAttribute("aria-busy");
    const wrap = document.createElement("div");
    wrap.className = "msg msg-error";
    wrap.setAttribute("role", "alert");
    wrap.dataset.testid = "turn-error";
    const p = document.createElement("p");
    p.textContent = message;
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "small";
    retry.dataset.testid = "retry";
    retry.textContent = "Retry";
    retry.addEventListener("click", () => {
      article.remove();
      send(text);
    });
    wrap.append(p, retry);
    answer.parentElement.replaceWith(wrap);
  }

  async function send(text) {
    const chat = form();
    if (!chat || !text.trim()) {
      showError("Type a question first.");
      return;
    }
    showError("");
    setBusy(true);
    const body = new FormData(chat);
    body.set("message", text);
    // The address names the conversation from the start: a reload mid-answer comes back to it.
    rememberConversation(body.get("conversation_id"));
    const article = pendingTurn(text);
    const answer = article.querySelector("[data-testid=answer]");
    let final = null;
    try {
      const response = await fetch(chat.dataset.streamUrl, {
        method: "POST",
        body,
        headers: { "X-CSRFToken": body.get("csrfmiddlewaretoken"), Accept: "text/event-stream" },
        credentials: "same-origin",
      });
      if (response.status === 400 || response.status === 429) {
        const errors = (await response.json()).errors || {};
        article.remove();
        showError(Object.values(errors).join(" "));
        return;
      }
      if (!response.ok) throw new Error(`The server answered ${response.status}.`);
      await readEvents(response, (name, data) => {
        if (name === "delta") answer.textContent += data.text;
        else if (name === "done" || name === "incomplete" || name === "error") final = { name, data };
      });
      if (!final) throw new Error("The answer was cut off before it was complete.");
    } catch (err) {
      localFailure(article, text, `Could not get an answer: ${err.message}`);
      return;
    } finally {
      setBusy(false);
    }
    const { name, data } = final;
    if (!data.request_id) {
      // Not even the failure could be logged: there is no turn to show (the details are in the log).
      localFailure(article, text, "The answer could not be saved. Try again in a moment.");
      return;
    }
    chat.querySelector("input[name=conversation_id]").value = data.conversation_id;
    rememberConversation(data.conversation_id);
    // The typed text goes only once it has a whole answer; after a failure or a partial answer it
    // stays for the retry.
    if (name === "done" && box().value.trim() === text.trim()) box().value = "";
    article.id = `turn-${data.request_id}`;
    try {
      await htmx.ajax("GET", `${chat.dataset.turnUrl}${data.request_id}/`, {
        target: `#turn-${data.request_id}`,
        swap: "outerHTML",
      });
    } catch (err) {
      localFailure(article, text, "The answer was logged but could not be shown; reload the page.");
      return;
    }
    if (name === "done") box().focus();
  }

  document.addEventListener("submit", (event) => {
    const target = event.target;
    if (target.id === "chat-form") {
      event.preventDefault();
      send(box().value);
    } else if (target.classList.contains("chat-retry")) {
      event.preventDefault();
      const text = target.querySelector("input[name=message]").value;
      if (!box().value.trim()) box().value = text;
      // A failed turn makes way for the new one; a partial answer stays, to be reviewed.
      if (target.closest("[data-testid=turn-incomplete]")) target.remove();
      else target.closest(".chat-turn").remove();
      send(text);
    }
  });

  // An example question goes into the box, to be sent as it is or changed first.
  document.addEventListener("click", (event) => {
    const example = event.target.closest?.(".chat-example");
    if (!example || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    box().value = example.dataset.question;
    box().focus();
  });

  document.addEventListener("DOMContentLoaded", () => enhance(document));
  document.addEventListener("htmx:load", (event) => enhance(event.detail.elt));

  // Enter sends; Shift+Enter is a new line.
  document.addEventListener("keydown", (event) => {
    if (event.target.id !== "chat-message" || event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    event.preventDefault();
    form().requestSubmit();
  });
})();
