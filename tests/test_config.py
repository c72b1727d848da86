"""One configuration: TOML file, then PAPERSIFT_* variables, then flags."""

from papersift.config import load_settings


def test_defaults_run_offline():
    s = load_settings()
    assert s.llm.backend == "embedded" and s.llm.base_url is None and s.embedding.backend == "use"


def test_toml_then_environment(tmp_path, monkeypatch):
    cfg = tmp_path / "c.toml"
    cfg.write_text('db = "/data/p.db"\n[llm]\nbackend = "openai"\nmodel = "qwen3-8b"\nconcurrency = 4\n')
    monkeypatch.setenv("PAPERSIFT_CONFIG", str(cfg))
    monkeypatch.delenv("PAPERSIFT_DB")
    s = load_settings()
    assert (str(s.db), s.llm.backend, s.llm.model, s.llm.concurrency) == ("/data/p.db", "openai", "qwen3-8b", 4)
    monkeypatch.setenv("PAPERSIFT_LLM_BASE_URL", "http://127.0.0.1:8000/v1")
    monkeypatch.setenv("PAPERSIFT_LLM_MODEL", "other")
    s = load_settings(db="/tmp/x.db")
    assert (s.llm.base_url, s.llm.model, s.llm.backend, str(s.db)) == (
        "http://127.0.0.1:8000/v1",
        "other",
        "openai",
        "/tmp/x.db",
    )


def test_a_broken_config_file_is_named(tmp_path, monkeypatch):
    import pytest

    cfg = tmp_path / "c.toml"
    cfg.write_text("[llm\n")
    monkeypatch.setenv("PAPERSIFT_CONFIG", str(cfg))
    with pytest.raises(ValueError, match="c.toml"):
        load_settings()


def test_paths_starting_with_a_tilde_are_in_the_home_folder(tmp_path, monkeypatch):
    cfg = tmp_path / "c.toml"
    cfg.write_text('db = "~/papers/papersift.db"\nglossary = "~/glossary.toml"\n')
    monkeypatch.setenv("PAPERSIFT_CONFIG", str(cfg))
    monkeypatch.delenv("PAPERSIFT_DB")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    s = load_settings()
    assert (s.db, s.glossary) == (tmp_path / "home/papers/papersift.db", tmp_path / "home/glossary.toml")
    monkeypatch.setenv("PAPERSIFT_TAXONOMY", "~/topics.toml")
    assert load_settings().taxonomy == tmp_path / "home/topics.toml"


def test_a_misspelt_key_is_named_with_the_file_and_the_closest_valid_key(tmp_path, monkeypatch):
    import pytest

    cfg = tmp_path / "c.toml"
    monkeypatch.setenv("PAPERSIFT_CONFIG", str(cfg))
    cfg.write_text('[llm]\nbackend = "openai"\nmodle = "qwen3-8b"\n')
    with pytest.raises(ValueError, match=r"c.toml: unknown key 'llm.modle'; did you mean 'llm.model'\?"):
        load_settings()
    cfg.write_text('databse = "/tmp/p.db"\n')
    with pytest.raises(ValueError, match=r"unknown key 'databse'; the keys there are db, llm, "):
        load_settings()
    cfg.write_text(
        '[daily.interests]\ntop = 5\n[llm.prices."gpt-4o-mini"]\ninput = 0.15\n'
    )  # free-form tables stay free
    assert load_settings().daily.interests.top == 5
