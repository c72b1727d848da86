// The static site's search: every paper's titles, keywords, topic, day and popularity come in
// search-index.js; a query matches when each of its words is found in them, lower-cased, so a
// Chinese word matches without a tokenizer. Results are built as text nodes, never as HTML.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("site-search");
  var list = document.getElementById("search-results");
  var count = document.getElementById("search-count");
  var index = window.PAPERSIFT_INDEX;
  if (!form || !list || !index) return;
  var LIMIT = 100;
  var papers = index.papers;
  var haystack = papers.map(function (p) { return [p.t, p.z || "", p.k].join(" ").toLowerCase(); });
  var byDate = function (a, b) { return (b.d || "").localeCompare(a.d || ""); };
  var byRank = function (a, b) { return (b.r == null ? -1 : b.r) - (a.r == null ? -1 : a.r) || byDate(a, b); };

  function item(p) {
    var li = document.createElement("li");
    var title = document.createElement("a");
    title.href = p.h;
    title.textContent = p.z || p.t;
    li.appendChild(title);
    if (p.z && p.z !== p.t) {
      var original = document.createElement("div");
      original.className = "original";
      original.lang = "en";
      original.textContent = p.t;
      li.appendChild(original);
    }
    var meta = document.createElement("div");
    meta.className = "meta-line";
    meta.textContent = [p.d, index.topics[p.s]].filter(Boolean).join(" · ");
    li.appendChild(meta);
    return li;
  }

  function run() {
    var words = form.q.value.toLowerCase().split(/\s+/).filter(Boolean);
    var topic = form.topic.value;
    var hits = [];
    for (var i = 0; i < papers.length; i++) {
      if (topic && papers[i].s !== topic) continue;
      if (words.every(function (w) { return haystack[i].indexOf(w) >= 0; })) hits.push(papers[i]);
    }
    hits.sort(form.sort.value === "rank" ? byRank : byDate);
    list.replaceChildren.apply(list, hits.slice(0, LIMIT).map(item));
    var template = hits.length > LIMIT ? count.dataset.shown : count.dataset.count;
    count.textContent = template.replace("{n}", hits.length).replace("{shown}", LIMIT);
    var query = new URLSearchParams({ q: form.q.value, topic: topic, sort: form.sort.value });
    history.replaceState(null, "", "?" + query.toString());
  }

  var asked = new URLSearchParams(location.search);
  form.q.value = asked.get("q") || "";
  form.topic.value = asked.get("topic") || "";
  form.sort.value = asked.get("sort") === "rank" ? "rank" : "date";
  form.addEventListener("input", run);
  // a select reports its choice by "change"; the text box's "change" comes on blur, as the reader
  // clicks a result, and redrawing the list then would swallow that click
  form.addEventListener("change", function (event) { if (event.target.tagName === "SELECT") run(); });
  form.addEventListener("submit", function (event) { event.preventDefault(); run(); });
  run();
});
