// The customer page's only script, an enhancement: the page works without it.
// - Rotates the QR code: fetches a fresh token every few tens of seconds and
//   when the phone screen comes back on.
// - Sharing: the phone's share sheet (Web Share API) where there is one,
//   else copying the offer's link.
(function () {
  "use strict";

  var card = document.querySelector("[data-token-url]");
  if (card) {
    var url = card.getAttribute("data-token-url");
    var every = (Number(card.getAttribute("data-refresh-secs")) || 60) * 1000;
    var qr = card.querySelector(".qr");
    var expires = card.querySelector("[data-token-expires]");
    var note = card.querySelector(".stale-note");
    var refresh = function () {
      fetch(url, { cache: "no-store", credentials: "same-origin" })
        .then(function (reply) {
          if (!reply.ok) { throw new Error("HTTP " + reply.status); }
          return reply.json();
        })
        .then(function (token) {
          qr.innerHTML = token.svg; // server-drawn SVG, no user text
          if (expires) { expires.textContent = token.expires_text; }
          card.classList.remove("stale");
          if (note) { note.hidden = true; }
        })
        .catch(function () {
          card.classList.add("stale");
          if (note) { note.hidden = false; }
        });
    };
    setInterval(refresh, every);
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) { refresh(); }
    });
  }

  document.querySelectorAll("[data-share-url]").forEach(function (box) {
    var link = box.getAttribute("data-share-url");
    var title = box.getAttribute("data-share-title") || document.title;
    var status = box.querySelector(".share-status");
    var say = function (text) { if (status) { status.textContent = text; } };
    var share = box.querySelector(".share-button");
    var copy = box.querySelector(".copy-button");
    if (navigator.share && share) {
      share.hidden = false;
      share.addEventListener("click", function () {
        navigator.share({ title: title, text: title, url: link }).catch(function () {});
      });
    }
    if (navigator.clipboard && copy) {
      copy.hidden = false;
      copy.addEventListener("click", function () {
        navigator.clipboard.writeText(link).then(
          function () { say("Ссылка скопирована"); },
          function () { say("Не удалось скопировать: выделите ссылку ниже"); }
        );
      });
    }
  });
})();
