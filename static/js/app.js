// Toasts sent by the server with HX-Trigger: {"toast": {"message": "..."}}.
document.body.addEventListener("toast", (event) => {
  const box = document.getElementById("toasts");
  if (!box) return;
  const el = document.createElement("div");
  el.className = "toast";
  el.setAttribute("role", "status");
  el.textContent = event.detail.message || event.detail.value || "";
  box.appendChild(el);
  setTimeout(() => el.remove(), 4000);
});
