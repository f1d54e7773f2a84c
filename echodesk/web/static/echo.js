// Echo's archive works without this file; with it, htmx swaps only the results, a mail's
// HTML frame is as tall as the mail, and the status tabs show the side that has more.
// Nothing here may run inline (the Content-Security-Policy forbids inline scripts).
(function () {
  "use strict";

  document.addEventListener("htmx:responseError", function () {
    var target = document.getElementById("results");
    if (target) {
      target.insertAdjacentHTML("afterbegin",
        '<div class="card notice bad">The server could not answer. Reload the page.</div>');
    }
  });

  // The mail's HTML frame: sandboxed without allow-scripts (the mail runs nothing), with
  // allow-same-origin so that this script may read its height. Without this file the
  // frame keeps the height the stylesheet gives it.
  function loaded(frame) {
    var doc;
    try {
      doc = frame.contentDocument;
    } catch (e) {
      return null; // not readable (an older page's frame without allow-same-origin)
    }
    if (!doc || !doc.body || doc.readyState !== "complete" || doc.URL === "about:blank") {
      return null;
    }
    return doc;
  }

  function fit(frame) {
    var doc = loaded(frame);
    if (!doc || frame.getClientRects().length === 0) {
      return; // not loaded yet, or in a closed <details>: fitted on load or on opening
    }
    var root = doc.documentElement;
    var content = Math.max(root.getBoundingClientRect().height, doc.body.scrollHeight);
    var borders = frame.offsetHeight - frame.clientHeight;
    var view = doc.defaultView;
    var scrollbar = view ? Math.max(0, view.innerHeight - root.clientHeight) : 0;
    frame.style.height = Math.ceil(content + borders + scrollbar) + "px";
    frame.setAttribute("data-fitted-width", String(frame.clientWidth));
  }

  function frames() {
    return document.querySelectorAll("iframe.mail-frame");
  }

  document.addEventListener("load", function (event) {
    var frame = event.target;
    if (frame && frame.matches && frame.matches("iframe.mail-frame")) {
      fit(frame);
    }
  }, true);

  document.addEventListener("toggle", function (event) {
    var details = event.target;
    if (details && details.open && details.querySelectorAll) {
      Array.prototype.forEach.call(details.querySelectorAll("iframe.mail-frame"), fit);
    }
  }, true);

  // The status tabs: on a narrow screen they scroll sideways. A fade marks each side
  // that has more (classes more-start / more-end), and the current tab is scrolled into
  // view, after a load and after htmx replaces the strip.
  function edges(strip) {
    var rest = strip.scrollWidth - strip.clientWidth;
    var at = Math.abs(strip.scrollLeft);
    strip.classList.toggle("more-start", at > 1);
    strip.classList.toggle("more-end", at < rest - 1);
  }

  function showCurrent(strip) {
    var on = strip.querySelector(".tab.on");
    if (!on || strip.scrollWidth <= strip.clientWidth) {
      return;
    }
    var tab = on.getBoundingClientRect();
    var box = strip.getBoundingClientRect();
    if (tab.right > box.right) {
      strip.scrollLeft += tab.right - box.right + 32;
    } else if (tab.left < box.left) {
      strip.scrollLeft -= box.left - tab.left + 32;
    }
  }

  function tabs() {
    var strip = document.getElementById("status-tabs");
    if (!strip) {
      return;
    }
    if (!strip.hasAttribute("data-edges")) {
      strip.setAttribute("data-edges", "");
      strip.addEventListener("scroll", function () { edges(strip); }, { passive: true });
      showCurrent(strip);
    }
    edges(strip);
  }

  var pending = false;
  window.addEventListener("resize", function () {
    if (pending) {
      return;
    }
    pending = true;
    window.requestAnimationFrame(function () {
      pending = false;
      tabs();
      Array.prototype.forEach.call(frames(), function (frame) {
        if (frame.getAttribute("data-fitted-width") !== String(frame.clientWidth)) {
          fit(frame); // a new width wraps the mail anew; an unchanged one needs nothing
        }
      });
    });
  });

  document.addEventListener("htmx:afterSettle", tabs);

  function start() {
    tabs();
    Array.prototype.forEach.call(frames(), fit);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
