// callout console, Targets: the "Copy signing key" button. Without it the key can still be selected and copied.
"use strict";
function copied(status, text) {
  if (status) {
    status.textContent = text;
  }
}
for (const button of document.querySelectorAll("button[data-copy]")) {
  button.addEventListener("click", () => {
    const field = document.getElementById(button.dataset.copy);
    const status = document.getElementById("copy-status");
    if (!(field instanceof HTMLInputElement)) {
      return;
    }
    field.select();
    const fallback = () => copied(status, document.execCommand("copy") ? "Copied." : "Select the key and copy it.");
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(() => copied(status, "Copied."), fallback);
    } else {
      fallback();
    }
  });
}
