// gotrue-web console: toasts for htmx answers. Everything else is plain HTML and htmx attributes.
(function () {
  function showToast(message, kind) {
    var box = document.getElementById("toasts");
    if (!box || !message) return;
    var toast = document.createElement("div");
    toast.className = "toast" + (kind === "error" ? " error" : "");
    toast.setAttribute("role", kind === "error" ? "alert" : "status");
    toast.textContent = message;
    box.appendChild(toast);
    setTimeout(function () { toast.classList.add("hide"); }, 3500);
    setTimeout(function () { toast.remove(); }, 4000);
  }
  document.addEventListener("toast", function (event) {
    var detail = event.detail || {};
    showToast(detail.message, detail.kind);
  });
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    if (status !== 422) showToast("The server answered " + status + ". Please try again.", "error");
  });
  document.addEventListener("htmx:sendError", function () {
    showToast("The server could not be reached.", "error");
  });
})();
