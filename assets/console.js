// The console's answer forms: each text's counter, « 1 234 / 50 000
// caractères », follows what is typed. Without this script the counter
// shows the length the page was served with, and the server refuses a
// text over the limit.
(function () {
  "use strict";
  function group(n, sep) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, sep);
  }
  document.querySelectorAll("textarea[data-counter]").forEach(function (area) {
    var out = document.getElementById(area.getAttribute("data-counter"));
    if (!out) {
      return;
    }
    var max = Number(out.getAttribute("data-max"));
    var template = out.getAttribute("data-template");
    var sep = out.getAttribute("data-separator");
    function update() {
      // Characters as the server counts them (code points); line breaks
      // are sent as CRLF and kept as one character.
      var n = Array.from(area.value).length;
      out.textContent = template.replace("{n}", group(n, sep));
      out.classList.toggle("over", n > max);
    }
    area.addEventListener("input", update);
    update();
  });
})();
