// Triage from the keyboard and curation without reloading: j/k move, s star, x hide, r read,
// o or Enter open. Every change is a same-origin POST carrying the page's CSRF token; the
// forms still work without JavaScript.
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var current = -1;

  function items() { return Array.prototype.slice.call(document.querySelectorAll(".item[data-id]")); }

  function focus(index) {
    var all = items();
    if (!all.length) return;
    current = Math.max(0, Math.min(index, all.length - 1));
    all.forEach(function (el, i) { el.classList.toggle("is-current", i === current); });
    all[current].scrollIntoView({ block: "nearest" });
  }

  function render(item, marks) {
    item.classList.toggle("is-starred", marks.starred);
    item.classList.toggle("is-read", marks.read);
    item.classList.toggle("is-hidden", marks.hidden);
    item.querySelectorAll("form.curation button[data-flag]").forEach(function (button) {
      var on = !!marks[button.dataset.flag];
      button.setAttribute("aria-pressed", on ? "true" : "false");
      button.value = on ? "false" : "true";
      button.textContent = on ? button.dataset.on : button.dataset.off;
    });
  }

  function curate(item, change) {
    return fetch("/api/papers/" + encodeURIComponent(item.dataset.id) + "/curation", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(change)
    }).then(function (response) {
      if (!response.ok) throw new Error("curation failed: HTTP " + response.status);
      return response.json();
    }).then(function (marks) { render(item, marks); return marks; });
  }

  function toggle(item, flag) {
    var button = item.querySelector('form.curation button[data-flag="' + flag + '"]');
    var change = {};
    change[flag] = button ? button.getAttribute("aria-pressed") !== "true" : true;
    return curate(item, change);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("form.curation button[data-flag]");
    var item = button && button.closest(".item[data-id]");
    if (!item) return;  // a form of its own: it posts and comes back
    event.preventDefault();
    toggle(item, button.dataset.flag).catch(function () { button.form.submit(); });
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || event.target.isContentEditable) return;
    var all = items();
    var item = all[current];
    switch (event.key) {
      case "j": focus(current + 1); break;
      case "k": focus(current - 1); break;
      case "s": if (item) toggle(item, "starred"); break;
      case "x": if (item) toggle(item, "hidden"); break;
      case "r": if (item) toggle(item, "read"); break;
      case "o": case "Enter": if (item && item.dataset.href) window.location.href = item.dataset.href; break;
      default: return;
    }
    event.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", function () {
    // on a paper's own page the paper is the current item, so s/x/r act on it at once
    if (document.querySelector(".paper-page")) focus(0);
    // on a phone the filters fold away above the papers
    var box = document.querySelector("details.facets-box");
    if (box && window.matchMedia("(max-width: 800px)").matches) box.open = false;
  });
})();
