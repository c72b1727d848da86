"""The HTML templates every publication shares: the static site and the web UI use the same set.

How to use them (the web app does the same as :mod:`papersift.publish.site`)::

    from papersift.publish.render import environment
    env = environment("zh")                       # autoescape on, labels of that language
    html = env.get_template("catalog.html").render(catalog=catalog, static_url="/static", root_url="/")

Templates (``publish/templates/``), names are stable:

- ``base.html`` — the layout: ``<meta charset="utf-8">``, a phone viewport, papersift's CSS and
  the vendored KaTeX (no CDN). Blocks: ``title``, ``head``, ``nav``, ``content``. Variables:
  ``static_url`` (where ``publish/static/`` is served, relative or absolute, default
  ``"static"``), ``root_url`` (prefix of site links such as ``catalog.html``, default ``""``),
  ``site_nav`` (show the static site's navigation; the web UI overrides the ``nav`` block),
  ``inline`` (:func:`inline_assets`: CSS and scripts inside the page, for a one-file export).
- ``_card.html`` — one catalog card; include it with ``p`` bound to a
  :class:`~papersift.publish.view.PaperView` (``{% with p = paper %}{% include "_card.html" %}{% endwith %}``).
  ``heading`` (default 3) sets the title's heading level.
- ``_digest_entry.html`` — one daily-digest entry, same ``p``.
- ``_note.html`` — the visible note on a paper whose enrichment failed, was flagged or poor, or is pending.
- Pages: ``catalog.html`` (``catalog``), ``digest_day.html`` (``day``: a DigestDay),
  ``digest_index.html`` (``days``), ``paper.html`` (``p``), ``deepdive.html`` (``dive``),
  ``index.html`` (the site's home: ``catalog``, ``days``).

Every template sees ``L`` (the label dict of the environment's language, see :data:`papersift.labels.LABELS`),
``lang``, and the filters ``count`` (``"{n} 篇"`` / ``"{n} papers"``), ``bold`` (``**x**`` →
``<strong>``, after escaping) and ``safe_url`` (None for a ``javascript:`` link and the like).
Math: any element with class ``tex`` is typeset by KaTeX auto-render in the browser; the text
itself stays as written.

The static files (CSS, JS, KaTeX) live in :data:`STATIC_DIR`; copy or mount them at ``static_url``.
"""

from __future__ import annotations

import base64
import re
from functools import cache
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from ..labels import labels

STATIC_DIR = Path(__file__).with_name("static")

READING_ICONS = {
    "motivation": "🎯",
    "problem": "❓",
    "observation": "🔍",
    "method": "🛠️",
    "experiments": "📊",
    "contribution": "⭐",
}


def count_label(n: int, lang: str) -> str:
    """``186 篇`` / ``186 papers`` (``1 paper``)."""
    if lang != "zh" and n == 1:
        return "1 paper"
    return labels(lang)["papers"].format(n=n)


_BOLD = re.compile(r"\*\*(.+?)\*\*")


def bold(text: str) -> Markup:
    """Escape ``text``, then turn ``**term**`` into ``<strong>term</strong>`` (deep-dive bullets)."""
    return Markup(_BOLD.sub(lambda m: f"<strong>{m[1]}</strong>", str(escape(text))))


@cache
def inline_assets() -> dict[str, Markup]:
    """The CSS and scripts (KaTeX fonts as data URIs) for a page that must stand alone in one file."""
    katex = STATIC_DIR / "katex"

    def font(m: re.Match) -> str:
        data = base64.b64encode((katex / m[1]).read_bytes()).decode()
        return f"url(data:font/woff2;base64,{data})"

    katex_css = re.sub(r"url\((fonts/[\w-]+\.woff2)\)", font, (katex / "katex.min.css").read_text(encoding="utf-8"))
    css = (STATIC_DIR / "papersift.css").read_text(encoding="utf-8") + "\n" + katex_css
    js = "\n".join(
        (path).read_text(encoding="utf-8")
        for path in (katex / "katex.min.js", katex / "auto-render.min.js", STATIC_DIR / "papersift.js")
    )
    return {"css": Markup(css), "js": Markup(js)}


@cache
def environment(lang: str = "zh") -> Environment:
    """A Jinja2 environment over ``publish/templates`` with autoescape on and ``lang``'s labels."""
    env = Environment(
        loader=PackageLoader("papersift.publish", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals.update(L=labels(lang), lang=lang, static_url="static", root_url="", icons=READING_ICONS)
    env.filters["count"] = lambda n: count_label(n, lang)
    env.filters["bold"] = bold
    env.filters["safe_url"] = safe_url
    return env


_SAFE_SCHEMES = ("http://", "https://")
_UNPRINTABLE_IN_URL = re.compile(r"[\x00-\x1f\x7f]")


def safe_url(url: str | None) -> str | None:
    r"""``url`` if it is http(s) or site-relative; ``javascript:`` and the like are dropped.

    The URL is first read the way a browser reads it (the WHATWG URL parser drops tabs and
    newlines anywhere, and control characters and spaces at either end), so that
    ``"java\tscript:"`` or ``"\x01javascript:"`` cannot pass for a relative link; nor can
    ``"javascript&#58;..."``, which a Markdown renderer would decode.
    """
    if not url:
        return None
    url = re.sub(r"[\t\n\r]", "", url).strip("".join(map(chr, range(33))))
    if _UNPRINTABLE_IN_URL.search(url):
        return None
    if url.lower().startswith(_SAFE_SCHEMES):
        return url
    if re.match(r"^[^/?#]*[:&]", url) or url.startswith(("//", "\\", "/\\")):
        return None
    return url or None
