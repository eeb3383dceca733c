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
      // Not even the failure could be logged: there is no turn to show, only why.
      localFailure(article, text, data.detail || "The chain did not answer.");
      return;
    }
    chat.querySelector("input[name=conversation_id]").value = data.conversation_id;
    const url = new URL(window.location.href);
    url.searchParams.set("c", data.conversation_id);
    history.replaceState(history.state, "", url);
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

  // Enter sends; Shift+Enter is a new line.
  document.addEventListener("keydown", (event) => {
    if (event.target.id !== "chat-message" || event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    event.preventDefault();
    form().requestSubmit();
  });
})();
