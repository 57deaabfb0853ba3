// Small progressive enhancements; every page works without them.
(function () {
  "use strict";
  // Copy buttons next to read-only fields (secrets, invitation links).
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-from]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy-from"));
    var text = "value" in source ? source.value : source.textContent;
    if (source.select) source.select();
    if (navigator.clipboard) navigator.clipboard.writeText(text).catch(function () {});
    button.textContent = "Copied";
  });
  // The submission brief's Print button (the print stylesheet leaves out everything but the brief).
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-print]")) window.print();
  });
  // Forms that change something that cannot be undone ask first.
  document.addEventListener("submit", function (event) {
    var message = (event.submitter && event.submitter.getAttribute("data-confirm")) ||
      event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  });
  // A thread opens at its newest message, next to the reply box, unless the reader asked for earlier ones.
  if (!/[?&]earlier=/.test(window.location.search)) {
    document.querySelectorAll(".messages").forEach(function (list) { list.scrollTop = list.scrollHeight; });
  }
  // Pipeline board: drag a card onto a column; this submits the card's own move form.
  var dragged = null;
  document.querySelectorAll(".deal-card[draggable]").forEach(function (card) {
    card.addEventListener("dragstart", function () { dragged = card; card.classList.add("dragging"); });
    card.addEventListener("dragend", function () { card.classList.remove("dragging"); });
  });
  document.querySelectorAll(".column[data-stage]").forEach(function (column) {
    column.addEventListener("dragover", function (event) { event.preventDefault(); column.classList.add("drop"); });
    column.addEventListener("dragleave", function () { column.classList.remove("drop"); });
    column.addEventListener("drop", function (event) {
      event.preventDefault();
      column.classList.remove("drop");
      if (!dragged) return;
      var form = dragged.querySelector("form.move");
      var select = form.querySelector("select[name=stage]");
      if (select.value === column.getAttribute("data-stage")) return;
      select.value = column.getAttribute("data-stage");
      form.submit();
    });
  });
})();
