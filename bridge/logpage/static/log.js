// Reloads the events list every data-refresh seconds, keeping the URL (and so the filters).
// Not while someone is typing in a filter, nor while the tab is hidden.
(function () {
  "use strict";
  var seconds = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
  if (!seconds) { return; }
  window.setInterval(function () {
    var focused = document.activeElement;
    var typing = focused && /^(INPUT|SELECT|TEXTAREA)$/.test(focused.tagName);
    if (!typing && !document.hidden) { window.location.reload(); }
  }, seconds * 1000);
})();

// Empty filters stay out of the URL, so that a shared link shows only what was chosen.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.classList || !form.classList.contains("filters")) { return; }
  Array.prototype.forEach.call(form.elements, function (field) {
    if (field.name && field.value === "") { field.disabled = true; }
  });
});
