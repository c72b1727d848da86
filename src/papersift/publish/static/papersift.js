// Typeset LaTeX with the vendored KaTeX, only inside elements marked .tex (titles, readings,
// abstracts); the text itself stays as the source wrote it.
document.addEventListener("DOMContentLoaded", function () {
  if (typeof renderMathInElement !== "function") return;
  var options = {
    delimiters: [
      { left: "$$", right: "$$", display: true },
      { left: "\\[", right: "\\]", display: true },
      { left: "$", right: "$", display: false },
      { left: "\\(", right: "\\)", display: false }
    ],
    throwOnError: false,
    trust: false
  };
  document.querySelectorAll(".tex").forEach(function (el) { renderMathInElement(el, options); });
});
