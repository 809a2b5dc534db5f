// The promotion form of the set-up page: shows only the fields of the
// reward kind chosen in the select. The form works without it (every
// kind's fields show, and the server reads only the chosen kind's).
(function () {
  "use strict";
  var select = document.getElementById("promo-reward-kind");
  if (!select) {
    return;
  }
  var sets = document.querySelectorAll("[data-reward-kind]");
  function show() {
    for (var i = 0; i < sets.length; i++) {
      sets[i].hidden = sets[i].getAttribute("data-reward-kind") !== select.value;
    }
  }
  select.addEventListener("change", show);
  show();
})();
