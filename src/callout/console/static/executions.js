// callout console, Executions page: progressive enhancement only; the page works without this script.
// The condition picker shows only the field the chosen condition type uses.
"use strict";
(() => {
  const picker = document.querySelector(".condition-picker");
  if (!picker) {
    return;
  }
  const select = picker.querySelector("select[name=condition]");
  const update = () => {
    const scope = select.value.split(":")[1];
    for (const field of picker.querySelectorAll(".field[data-scope]")) {
      field.hidden = field.dataset.scope !== scope;
    }
  };
  select.addEventListener("change", update);
  update();
})();
