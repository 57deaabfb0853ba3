// The drafts page's "Send selected (N)": the count follows the ticked boxes. Without a script the confirmation page
// still lists every recipient before anything is sent.
(function () {
  "use strict";
  var form = document.querySelector("[data-testid=drafts-form]");
  if (!form) return;
  var count = form.querySelector("[data-selected-count]");
  function update() { if (count) count.textContent = " (" + form.querySelectorAll("input.pick:checked").length + ")"; }
  form.addEventListener("change", update);
  update();
})();
