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

Every template sees ``L`` (the label dict of the environment's language, see :data:`LABELS`),
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

STATIC_DIR = Path(__file__).with_name("static")

READING_ICONS = {
    "motivation": "🎯",
    "problem": "❓",
    "observation": "🔍",
    "method": "🛠️",
    "experiments": "📊",
    "contribution": "⭐",
}

LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "motivation": "研究动机",
        "problem": "解决问题",
        "observation": "现象分析",
        "method": "主要方法",
        "experiments": "数据与实验",
        "contribution": "主要贡献",
        "show_abstract": "查看完整摘要",
        "abstract": "摘要",
        "papers": "{n} 篇",
        "tldr": "TL;DR",
        "tldr_generated": "（生成）",
        "note_failed": "⚠️ 解读生成失败，下面是原文摘要。",
        "note_flagged": "⚠️ 忠实性检查未通过，解读可能有误：",
        "note_poor": "⚠️ 质量检查未通过，解读可能重复、残缺或篇幅失当：",
        "note_pending": "ℹ️ 尚未解读，下面是原文摘要。",
        "untitled": "（无标题）",
        "uncategorised": "未分类",
        "catalog": "论文目录",
        "digest": "每日速递",
        "digest_index": "往期速递",
        "feed": "RSS 订阅",
        "paper_page": "原文页面",
        "home": "首页",
        "keywords": "关键词",
        "authors": "作者",
        "published": "日期",
        "source": "来源",
        "title": "论文标题",
        "link": "链接",
        "deepdive": "深度解析",
        "version": "版本",
        "primary_category": "主分类",
        "deepdive_flagged": "⚠️ 忠实性检查未通过，文中可能有未经原文支持的内容：",
        "sep": "：",
        "tldr_original": "作者原文",
        "provenance": "解读来源",
        "alt_link": "来源页面",
        "synthesis": "今日综述",
        "why": "推荐理由",
    },
    "en": {
        "motivation": "Motivation",
        "problem": "Problem",
        "observation": "Observation",
        "method": "Method",
        "experiments": "Data & experiments",
        "contribution": "Contribution",
        "show_abstract": "Show abstract",
        "abstract": "Abstract",
        "papers": "{n} papers",
        "tldr": "TL;DR",
        "tldr_generated": " (generated)",
        "note_failed": "⚠️ The reading could not be generated; the original abstract follows.",
        "note_flagged": "⚠️ Flagged by the faithfulness check; the reading may contain errors:",
        "note_poor": "⚠️ Failed the quality check; the reading may be repetitive, cut off or badly sized:",
        "note_pending": "ℹ️ Not read yet; the original abstract follows.",
        "untitled": "(untitled)",
        "uncategorised": "Uncategorised",
        "catalog": "Catalog",
        "digest": "Daily digest",
        "digest_index": "All digests",
        "feed": "RSS feed",
        "paper_page": "Paper page",
        "home": "Home",
        "keywords": "Keywords",
        "authors": "Authors",
        "published": "Date",
        "source": "Source",
        "title": "Title",
        "link": "Link",
        "deepdive": "Deep dive",
        "version": "Version",
        "primary_category": "Primary category",
        "deepdive_flagged": "⚠️ Flagged by the faithfulness check; some statements may not be supported by the paper:",
        "sep": ": ",
        "tldr_original": "Author's words",
        "provenance": "Reading by",
        "alt_link": "Source page",
        "synthesis": "The day in brief",
        "why": "Why",
    },
}


def labels(lang: str) -> dict[str, str]:
    """The labels of ``lang``; a language without its own set reads English labels."""
    return LABELS.get(lang, LABELS["en"])


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
