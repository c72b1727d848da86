"""Plugins: third-party sources, output formats, LLM backends, embedders and channels, found through entry points.

The packages are tiny folders under tests/fixtures/plugins/, each with its ``*.dist-info``
(METADATA and entry_points.txt), so that putting the folder on ``sys.path`` is what
``pip install`` would do for importlib.metadata. One of them, papersift-broken, fails on import.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from papersift.cli import app
from papersift.cli.plugins import registries
from papersift.config import load_settings
from papersift.daily.fetch import DailyConfigError, check_sources, run_source
from papersift.deliver import make_channels
from papersift.llm.base import LLMError
from papersift.llm.client import make_backend
from papersift.search.embeddings import EmbeddingError, get_embedder
from papersift.store import Store

PLUGINS = Path(__file__).parent / "fixtures" / "plugins"


@pytest.fixture
def installed(monkeypatch):
    """The fixture packages, as if pip-installed; each registry forgets what it loaded before and after."""
    monkeypatch.syspath_prepend(str(PLUGINS))
    for registry in registries().values():
        registry.clear()
    yield
    for registry in registries().values():
        registry.clear()


@pytest.fixture
def toy_file(tmp_path):
    path = tmp_path / "toy.txt"
    path.write_text(
        "Sparse attention for toys | We make attention sparse.\nA second toy paper | It is short.\n", encoding="utf-8"
    )
    return path


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_a_source_plugin_is_an_ingest_command_with_its_options_and_stores_its_papers(installed, toy_file):
    help_text = run("ingest", "toy", "--help").output
    assert "Read papers from a toy file" in help_text and "--venue" in help_text and "--skip-invalid" in help_text
    result = run("ingest", "toy", str(toy_file), "--venue", "ToyConf 2026", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["new"] == 2
    papers = sorted(Store(load_settings().db).iter_papers(), key=lambda p: p.title)
    assert [(p.title, p.venue, p.source) for p in papers] == [
        ("A second toy paper", "ToyConf 2026", "toy"),
        ("Sparse attention for toys", "ToyConf 2026", "toy"),
    ]


def test_a_source_plugin_bad_record_imports_nothing_unless_skip_invalid(installed, toy_file):
    toy_file.write_text(toy_file.read_text() + "no separator here\n", encoding="utf-8")
    result = run("ingest", "toy", str(toy_file))
    assert result.exit_code == 2 and "toy.txt:3: line: expected 'title | abstract'" in result.output
    assert Store(load_settings().db).count() == 0
    assert run("ingest", "toy", str(toy_file), "--skip-invalid").exit_code == 1  # imported, one record named as skipped
    assert Store(load_settings().db).count() == 2


def test_the_daily_run_names_a_source_plugin_by_type(installed, toy_file):
    spec = {"type": "toy", "name": "toys", "path": str(toy_file), "venue": "ToyConf"}
    check_sources([spec])
    settings = load_settings()
    with Store(settings.db) as store:  # the daily run's own store: sources no longer open one through the CLI
        result = run_source(spec, 0, settings, store)
    assert (result.name, result.new, result.error) == ("toys", 2, None)
    with pytest.raises(DailyConfigError, match=r"daily.sources\[0\] \(toy\): unknown key 'colour'; toy takes: .*venue"):
        check_sources([{**spec, "colour": "red"}])


def test_an_output_format_plugin_is_accepted_by_publish_format(installed, toy_file, tmp_path):
    run("ingest", "toy", str(toy_file))
    result = run("publish", "catalog", "--format", "txt", "-o", str(tmp_path / "catalog.txt"))
    assert result.exit_code == 0, result.output
    assert sorted((tmp_path / "catalog.txt").read_text().splitlines()) == [
        "A second toy paper",
        "Sparse attention for toys",
    ]
    result = run("publish", "digest", "--all", "--format", "txt")
    assert (
        result.exit_code == 0 and len(result.stdout.splitlines()) == 2 and "Sparse attention for toys" in result.stdout
    )


def test_a_format_that_cannot_write_a_publication_says_which_can(installed):
    result = run("deepdive", "2505.00001", "--format", "txt")
    assert result.exit_code == 2
    assert "format 'txt' cannot write a deepdive; use one of html, json, md" in " ".join(result.output.split())


def test_a_backend_plugin_is_chosen_by_llm_backend(installed, monkeypatch):
    monkeypatch.setenv("PAPERSIFT_LLM_BACKEND", "echo")
    result = run("llm", "chat", "hello plugins")
    assert result.exit_code == 0, result.output
    assert "HELLO PLUGINS" in result.stdout


def test_an_embedder_plugin_is_chosen_by_embedding_backend(installed, monkeypatch, toy_file):
    run("ingest", "toy", str(toy_file))
    monkeypatch.setenv("PAPERSIFT_EMBEDDING_BACKEND", "checksum")
    result = run("embed", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["model"] == "checksum-8" and json.loads(result.stdout)["embedded"] == 2
    searched = run("search", "paper", "--mode", "vector", "--json")  # search looks for the plugin's vectors
    assert searched.exit_code == 0, searched.output
    assert json.loads(searched.stdout)["mode"] == "vector" and len(json.loads(searched.stdout)["hits"]) == 2


def test_a_channel_plugin_is_a_daily_deliver_type_with_its_options_checked(installed, tmp_path):
    [note] = make_channels([{"type": "note", "path": str(tmp_path / "today.txt")}])
    assert (type(note).__name__, note.name, note.attempts) == ("NoteChannel", "note", 3)
    with pytest.raises(ValueError, match=r"daily.deliver\[0\] \(note\): colour: Extra inputs are not permitted"):
        make_channels([{"type": "note", "path": "today.txt", "colour": "red"}])


def test_ingest_help_lists_the_plugin_sources_even_one_that_cannot_load(installed):
    listing = " ".join(run("ingest", "--help").output.split())
    assert "toy Read papers from a toy file" in listing
    assert "broken Cannot be used: source plugin 'broken' from papersift-broken 0.1" in listing


def test_plugins_list_shows_built_in_and_installed_plugins_without_loading_them(installed):
    result = run("plugins", "list", "--json")
    assert result.exit_code == 0, result.output
    found = {(p["kind"], p["name"]): p for p in json.loads(result.stdout)}
    assert found["sources", "toy"]["origin"] == "papersift-toy-source 0.1"
    assert found["sources", "toy"]["target"] == "papersift_toy_source:toy_papers"
    assert found["formats", "txt"]["origin"] == "papersift-toy-format 0.1"
    assert found["formats", "broken"]["origin"] == "papersift-broken 0.1"  # listed, though it cannot load
    assert {found[k]["origin"] for k in [("backends", "echo"), ("embedders", "checksum"), ("channels", "note")]} == {
        "papersift-toy-kit 0.1"
    }
    assert {
        ("backends", "openai"),
        ("embedders", "use"),
        ("formats", "md"),
        ("channels", "email"),
        ("sources", "arxiv"),
    } <= set(found)
    table = run("plugins", "list").output
    assert "papersift-toy-format" in table and "txt" in table


@pytest.mark.parametrize("args", [["publish", "catalog", "--format", "broken"], ["ingest", "broken"]])
def test_a_plugin_that_fails_to_load_is_a_clear_error_naming_it_and_its_package(installed, args):
    result = run(*args)
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "plugin 'broken' from papersift-broken 0.1 (papersift_broken:" in message
    assert "failed to load: ImportError: cannot import name 'Gone'" in message


def test_a_broken_source_plugin_is_the_daily_entry_error(installed):
    with pytest.raises(DailyConfigError, match=r"daily.sources\[0\]: source plugin 'broken' from papersift-broken 0.1"):
        check_sources([{"type": "broken"}])


def test_an_unknown_name_lists_the_known_ones(installed):
    assert "unknown format 'pdf'; use one of html, json, md, txt" in " ".join(
        run("publish", "catalog", "--format", "pdf").output.split()
    )
    with pytest.raises(
        LLMError,
        match=r"unknown LLM backend 'nope' \(llm.backend / PAPERSIFT_LLM_BACKEND\); known: echo, embedded, openai",
    ):
        make_backend(load_settings(llm={"backend": "nope"}))
    with pytest.raises(EmbeddingError, match=r"unknown embedding backend 'nope' .*; known: checksum, openai, use"):
        get_embedder(load_settings(embedding={"backend": "nope"}))
    with pytest.raises(
        DailyConfigError,
        match=r"type 'ftp' is not a source; use one of arxiv, broken, file, hf-daily, oai, openreview, rss, toy",
    ):
        check_sources([{"type": "ftp"}])
    with pytest.raises(
        ValueError, match=r"type 'pigeon' is not a channel; use one of email, feed, note, site, webhook"
    ):
        make_channels([{"type": "pigeon"}])


def test_without_the_packages_their_plugins_are_gone(toy_file):
    for registry in registries().values():
        registry.clear()
    result = run("ingest", "toy", str(toy_file))
    assert result.exit_code == 2 and "No such command 'toy'" in result.output
