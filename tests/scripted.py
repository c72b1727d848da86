"""The scripted model the enrichment tests share: a faithful card, and settings that point at a
scripted server on loopback."""

from __future__ import annotations

import json
from pathlib import Path

from support.llm_server import ScriptedServer, default_reply

from papersift.config import LLMSettings, Settings
from papersift.enrich.card_prompt import card_schema


def card_reply(body: dict, lang: str | None = None) -> dict:
    """A card in the asked language (or ``lang``), built only from the numbers and names of the
    paper as first asked: the scripted server's default card, whose fields each say something of
    their own at the length asked, and which writes the glossary's terms."""
    first_ask = {
        "messages": body["messages"][:2],
        "response_format": {"type": "json_schema", "json_schema": {"schema": card_schema()}},
    }
    return json.loads(default_reply(first_ask, lang))


def settings_for(server: ScriptedServer, db: Path, **llm) -> Settings:
    options = {
        "backend": "openai",
        "base_url": server.base_url,
        "model": "scripted-qwen3",
        "api_key": "test",
        "concurrency": 4,
        "timeout": 2.0,
        "max_retries": 2,
    } | llm
    return Settings(db=db, llm=LLMSettings(**options))
