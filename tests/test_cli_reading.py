"""The commands show the reader's language: the card in ``papers show``, the card's title beside
the original in ``papers list`` and ``search``, the card in the CSV and Markdown exports. A card
that did not pass its checks says so, and lends nothing to the lists."""

from __future__ import annotations

import csv
import io

from publications import build_store
from typer.testing import CliRunner

from papersift.cli import app
from papersift.store import Store

runner = CliRunner(env={"COLUMNS": "200"})  # a table row on one line


def cli(*args):
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_papers_show_prints_the_card_and_a_refused_ones_reasons(tmp_path):
    store, ids = build_store(tmp_path / "p.db")
    shown = cli("--db", store.path, "papers", "show", ids["ok"])
    for text in ("ok的中文标题", "ok一句话总结", "研究动机：ok的动机", "数据与实验：ok的实验", "ok的速递段落"):
        assert text in shown
    flagged = cli("--db", store.path, "papers", "show", ids["flagged"])
    assert "忠实性检查未通过" in flagged and "number 99% not in the abstract" in flagged  # the details stay here


def test_papers_list_and_search_show_an_ok_cards_title_above_the_original(tmp_path):
    store, ids = build_store(tmp_path / "p.db")
    listed = cli("--db", store.path, "papers", "list")
    assert "ok的中文标题" in listed and "Scaling Reasoning Models" in listed
    assert "flagged的中文标题" not in listed and "A Flagged Paper" in listed  # a refused card lends no title
    found = cli("--db", store.path, "search", "Scaling Reasoning", "--mode", "lexical")
    assert "ok的中文标题" in found and "Scaling Reasoning Models" in found


def test_an_empty_store_says_so_by_name(tmp_path):
    Store(tmp_path / "new.db").close()
    assert (
        f"no papers in {tmp_path / 'new.db'}"
        in runner.invoke(app, ["--db", str(tmp_path / "new.db"), "papers", "list"]).output
    )


def test_the_csv_and_markdown_exports_carry_the_card(tmp_path):
    store, ids = build_store(tmp_path / "p.db")
    rows = {row["id"]: row for row in csv.DictReader(io.StringIO(cli("--db", store.path, "export", "-f", "csv")))}
    ok = rows[ids["ok"]]
    assert (ok["card_lang"], ok["card_status"], ok["card_title"]) == ("zh", "ok", "ok的中文标题")
    assert ok["card_method"] == "ok的方法" and ok["card_digest"].startswith("ok的速递段落")
    assert rows[ids["failed"]]["card_status"] == "failed" and rows[ids["failed"]]["card_title"] == ""
    assert rows[ids["pending"]]["card_status"] == ""
    markdown = cli("--db", store.path, "export", "-f", "markdown")
    assert "**ok的中文标题**" in markdown and "- **主要方法**：ok的方法" in markdown
    assert "> 忠实性检查未通过" in markdown  # a flagged card says so before its text
