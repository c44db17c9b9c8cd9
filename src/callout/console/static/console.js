// callout console: progressive enhancement only; every page works without this script.
// A submitted form disables its buttons so that a double click sends it once.
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement)) {
    return;
  }
  window.setTimeout(() => {
    for (const button of form.querySelectorAll("button")) {
      button.disabled = true;
    }
  }, 0);
});
