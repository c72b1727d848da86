"""A scripted OpenAI-compatible server, bound to 127.0.0.1, for tests and benchmarks.

It answers ``POST /v1/chat/completions`` (plain and streamed), ``POST /v1/embeddings`` and
``GET /v1/models`` like vLLM serving a Qwen3-style hybrid model would, and it is scripted:

- **Replies.** By default a JSON-schema request (``response_format``) gets a valid object built
  from the schema, its strings written in the language the prompt asks for and echoing the
  numbers and names of the prompt's last message; a plain request gets one such sentence. A card
  (papersift's card schema) passes the quality gate as a good model's would: each reading field
  says something of its own at about the length asked, the digest is about as long as the
  abstract asks, and it writes the translation of every glossary term (from the system prompt)
  that the paper uses. A ``responder(body) -> str | dict | Reply`` replaces that.
- **Reasoning.** With thinking on (``chat_template_kwargs.enable_thinking``, else the ``/think``
  and ``/no_think`` soft switches, else ``thinking_default``) a reply carries ``reasoning_tokens``
  words of reasoning, in ``reasoning_content`` or inline as ``<think>…</think>``. A request that
  continues an assistant prefix closed with ``</think>`` (``continue_final_message``) gets only
  the answer.
- **Usage.** Tokens are counted as characters / 4 (a streamed reasoning word is one token);
  ``cached_tokens`` simulates prefix caching: the longest prefix shared with an earlier prompt.
- **Load.** ``latency`` seconds a request, ``token_latency`` a streamed chunk, and at most
  ``concurrency_limit`` requests served at once: the rest wait (``over_limit="wait"``) or get 429.
  With ``hold_after`` set to N, every chat request after the first N waits, unanswered, until it
  is set back to ``None``: a run that is to be cut off mid-way can then never finish first.
- **Faults on demand**, by queue (:meth:`fail_next`) or predicate (:meth:`fail_when`): ``429``
  (with ``Retry-After``), ``429_bare`` (without), ``500``, ``503``, ``hang`` (past any sane client
  timeout), ``truncated`` JSON, ``prose`` instead of JSON, ``wrong_language`` (English where
  another language is asked), ``invented_number`` (a figure the prompt does not hold), and
  broken bodies: ``html`` (a proxy's error page with status 200), ``bad_utf8`` (a completion
  whose bytes are not UTF-8) and ``huge`` (a completion of ``huge_bytes`` characters).
- **Records** every request (:attr:`requests`, :attr:`max_in_flight`) for assertions.

Use it as a context manager (it runs in a background thread)::

    with ScriptedServer(latency=0.05, concurrency_limit=4) as server:
        settings.llm.base_url = server.base_url

or from a shell: ``python tests/support/llm_server.py --port 8011``.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import hashlib
import json
import math
import re
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from papersift.checks.glossary import Term
from papersift.llm.reasoning import SOFT_OFF, SOFT_ON, THINK_CLOSE

STATUS_FAULTS = ("429", "429_bare", "500", "503")
BODY_FAULTS = ("html", "bad_utf8", "huge")
FAULTS = (*STATUS_FAULTS, "hang", "truncated", "prose", "wrong_language", "invented_number", *BODY_FAULTS)
REASONING_WORDS = (
    "First I read the request carefully, then I check each fact against the source text "
    "and plan the answer step by step before writing it."
).split()


@dataclass
class Reply:
    """What a responder may return when it wants to set the reasoning too."""

    content: str
    reasoning: str | None = None


Responder = Callable[[dict[str, Any]], "str | dict | Reply"]


@dataclass
class Recorded:
    """One request as the server received it."""

    path: str
    body: dict[str, Any]
    fault: str | None = None  # one of FAULTS, "over_limit" (429 at the limit) or "rejected" (400)
    received_at: float = field(default_factory=time.monotonic)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body.get("messages", [])

    @property
    def max_tokens(self) -> int | None:
        return self.body.get("max_tokens", self.body.get("max_completion_tokens"))

    @property
    def chat_template_kwargs(self) -> dict[str, Any] | None:
        return self.body.get("chat_template_kwargs")

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def last_user(self) -> str:
        return last_user_message(self.body)


def last_user_message(body: dict[str, Any]) -> str:
    return next((m.get("content") or "" for m in reversed(body.get("messages", [])) if m.get("role") == "user"), "")


def count_tokens(text: str) -> int:
    """The server's token count: one token per four characters, rounded up."""
    return math.ceil(len(text) / 4)


class PrefixCache:
    """Every prompt seen, sorted, so the longest prefix shared with any of them is found by bisection
    (the best match is always a neighbour in sorted order)."""

    def __init__(self, limit: int = 100_000):
        self._prompts: list[str] = []
        self._limit = limit

    def lookup_and_add(self, prompt: str) -> int:
        """Characters of ``prompt`` shared with the closest earlier prompt; remembers ``prompt``."""
        at = bisect.bisect_left(self._prompts, prompt)
        best = max(
            (_common_prefix(prompt, self._prompts[i]) for i in (at - 1, at) if 0 <= i < len(self._prompts)), default=0
        )
        if len(self._prompts) < self._limit:
            self._prompts.insert(at, prompt)
        return best


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    lo, hi = 0, n  # binary search on slices: C-speed comparisons instead of a Python loop
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


# --- the default responder: an object from the schema, in the asked language -------------------

_LANGUAGE_NAMES = {
    "chinese": "zh",
    "中文": "zh",
    "japanese": "ja",
    "日本語": "ja",
    "korean": "ko",
    "한국어": "ko",
    "english": "en",
}
_LANGUAGE_RE = re.compile(r"\b(Chinese|Japanese|Korean|English)\b|中文|日本語|한국어", re.I)
_NUMBER_RE = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?:\s?%|×)?(?![\w.])")
_NAME_RE = re.compile(r"\b[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*\b")
_NOT_NAMES = {"TL", "DR", "JSON", "URL", "OK"}
_SENTENCES = {
    "zh": (
        "本文围绕{facts}展开研究，并给出了相应的分析与结论。",
        "本文的研究内容与相应的分析结论。",
        "关于{title}的研究",
    ),
    "ja": (
        "本論文は{facts}について研究し、その分析と結論を示している。",
        "本論文の研究内容とその分析と結論。",
        "{title}に関する研究",
    ),
    "ko": (
        "이 논문은 {facts}에 관해 연구하고 그 분석과 결론을 제시한다.",
        "이 논문의 연구 내용과 분석 및 결론.",
        "{title}에 관한 연구",
    ),
    "en": (
        "This paper studies {facts} and reports the corresponding analysis and conclusions.",
        "This paper reports its analysis and conclusions.",
        "A study of {title}",
    ),
}
# A card's fields, each saying something of its own at about the length asked, so that a default
# card passes the quality gate as a good model's would; {facts} echoes the prompt's numbers and names
# in the TL;DR and the digest.
_FIELDS = {
    "zh": {
        "tldr": "本文研究{facts}，并报告了主要结果。",
        "motivation": "这一问题关系到现有方法能否在实际场景中可靠地使用，因此值得深入研究。",
        "problem": "论文要解决的核心问题是如何在保证效果的同时降低所需的代价。",
        "observation": "作者发现已有做法在关键环节上存在明显不足，这正是改进的切入点。",
        "method": "作者提出了一套新的处理流程，并逐一说明了其中各个组成部分的作用。",
        "experiments": "实验部分在多个基准和设置下检验了所提方法，结果支持其有效性。",
        "contribution": "主要贡献在于给出了一个简单可行的新方案，并公开了相应的分析结论。",
        "terms": "文中涉及{terms}等概念。",
        "no_facts": "多项指标",
    },
    "ja": {
        "tldr": "本論文は{facts}について研究し、主な結果を報告している。",
        "motivation": "この問題は、既存の手法を実際の場面で安心して使えるかどうかに関わるため重要である。",
        "problem": "本論文が解こうとする中心的な問題は、性能を保ちながら必要なコストを下げる方法である。",
        "observation": "著者らは、既存のやり方が重要な段階で不十分であることを見出し、これを改善の出発点とした。",
        "method": "著者らは新しい処理の流れを提案し、その各構成要素の役割を順に説明している。",
        "experiments": "実験では複数のベンチマークと設定で提案手法を検証し、その有効性が確かめられた。",
        "contribution": "主な貢献は、簡潔で実用的な新しい解決策とその分析を示したことである。",
        "terms": "本文では{terms}などの概念を扱う。",
        "no_facts": "複数の指標",
    },
    "ko": {
        "tldr": "이 논문은 {facts}에 관해 연구하고 주요 결과를 보고한다.",
        "motivation": "이 문제는 기존 방법을 실제 환경에서 믿고 쓸 수 있는지와 직결되므로 중요하다.",
        "problem": "논문이 풀고자 하는 핵심 문제는 성능을 유지하면서 필요한 비용을 줄이는 방법이다.",
        "observation": "저자들은 기존 방식이 핵심 단계에서 부족하다는 점을 발견하고 이를 개선의 출발점으로 삼았다.",
        "method": "저자들은 새로운 처리 절차를 제안하고 각 구성 요소의 역할을 차례로 설명한다.",
        "experiments": "실험에서는 여러 벤치마크와 설정에서 제안 방법을 검증하여 그 효과를 확인하였다.",
        "contribution": "주요 기여는 간단하고 실용적인 새로운 해결책과 그 분석을 제시한 것이다.",
        "terms": "본문은 {terms} 등의 개념을 다룬다.",
        "no_facts": "여러 지표",
    },
    "en": {
        "tldr": "This paper studies {facts} and reports its main results.",
        "motivation": "The problem matters because current approaches are hard to rely on in practical settings.",
        "problem": "The paper asks how to keep quality high while lowering the cost that this requires.",
        "observation": "The authors observe that existing practice falls short at a key step, which motivates the change.",
        "method": "They propose a new procedure and explain the role of each of its components in turn.",
        "experiments": "Experiments on several benchmarks and settings support the effectiveness of the proposed approach.",
        "contribution": "The main contribution is a simple and practical new solution together with its analysis.",
        "terms": "It covers {terms}.",
        "no_facts": "several measures",
    },
}
_READING = ("motivation", "problem", "observation", "method", "experiments", "contribution")
# A digest at least this long per English word of the abstract: above the quality gate's floor.
_DIGEST_PER_WORD = {"zh": 1.2, "ja": 1.2, "ko": 1.2, "en": 0.6}
_GLOSSARY_LINE = re.compile(r"^- (.+?) → (.+)$", re.M)
_INVENTED = {
    "zh": "，准确率提升 {n}%",
    "ja": "、精度が {n}% 向上した",
    "ko": ", 정확도가 {n}% 향상되었다",
    "en": ", improving accuracy by {n}%",
}


def asked_language(body: dict[str, Any]) -> str:
    """The language the prompt asks for: the first language name in the system or last user message."""
    texts = [m.get("content") or "" for m in body.get("messages", []) if m.get("role") in ("system", "user")]
    for text in texts[:1] + texts[-1:]:
        match = _LANGUAGE_RE.search(text)
        if match:
            return _LANGUAGE_NAMES[match[0].lower()]
    return "en"


def prompt_facts(text: str, limit: int = 3) -> list[str]:
    """Numbers and model-like names (with a digit, or two capitals) of ``text``, in order, at most ``limit``."""
    found: list[tuple[int, str]] = [(m.start(), m[0]) for m in _NUMBER_RE.finditer(text)]
    for m in _NAME_RE.finditer(text):
        word = m[0]
        capitals = sum(c.isupper() for c in word)
        if word not in _NOT_NAMES and (capitals >= 2 or (any(c.isdigit() for c in word) and capitals >= 1)):
            found.append((m.start(), word))
    unique = list(dict.fromkeys(w for _, w in sorted(found)))
    return unique[:limit]


def _title_of(text: str) -> str | None:
    match = re.search(r"^\s*Title:\s*(.+)$", text, re.M)
    return match[1].strip() if match else None


class _Writer:
    """Fills a JSON schema with sentences in one language that echo the prompt's facts."""

    def __init__(self, body: dict[str, Any], lang: str):
        last_user = last_user_message(body)
        self.lang = lang
        self.facts = prompt_facts(last_user)
        self.title = _title_of(last_user)
        self.defs: dict[str, Any] = {}
        messages = body.get("messages", [])
        paper = next((m.get("content") or "" for m in messages if "Abstract:" in (m.get("content") or "")), "")
        self.abstract_words = len(paper.split("Abstract:", 1)[-1].split()) if paper else 0
        system = next((m.get("content") or "" for m in messages if m.get("role") == "system"), "")
        glossary = system.split("# Glossary", 1)[1] if "# Glossary" in system else ""
        self.terms = [t for e, t in _GLOSSARY_LINE.findall(glossary) if Term(e, t).used_in(paper)]

    def field(self, name: str) -> str:
        words = _FIELDS[self.lang]
        sep = "、" if self.lang in ("zh", "ja") else ", "
        return words[name].format(facts=sep.join(self.facts) or words["no_facts"])

    def digest(self, max_length: int) -> str:
        """The reading's sentences in turn, as often as a faithful rendering of the abstract is long."""
        words = _FIELDS[self.lang]
        joiner = "" if self.lang in ("zh", "ja") else " "
        ending = [words["terms"].format(terms="、".join(self.terms))] if self.terms else []
        target = _DIGEST_PER_WORD[self.lang] * self.abstract_words
        reading = [self.field(name) for name in _READING]
        sentences = [self.field("tldr"), *reading]
        text = joiner.join(sentences + ending)
        while _length(text, self.lang) < target:
            longer = joiner.join([*sentences, reading[len(sentences) % len(reading)], *ending])
            if len(longer) > max_length:
                break
            sentences.append(reading[len(sentences) % len(reading)])
            text = longer
        return text

    def sentence(self) -> str:
        with_facts, without, _ = _SENTENCES[self.lang]
        sep = "、" if self.lang in ("zh", "ja") else ", "
        return with_facts.format(facts=sep.join(self.facts)) if self.facts else without

    def string(self, name: str, schema: dict[str, Any]) -> str:
        if "enum" in schema:
            return schema["enum"][0]
        if name == "title" and self.lang in _SENTENCES:
            # a record without a title (an abstract only) is named after its first fact, as a title
            text = _SENTENCES[self.lang][2].format(title=self.title or self.keywords(1)[0])
        elif name == "digest" and self.lang in _FIELDS:
            text = self.digest(schema.get("maxLength", 1500))
        elif name in _FIELDS.get(self.lang, {}) and name not in ("terms", "no_facts"):
            text = self.field(name)
        else:
            text = self.sentence()
        text = text[: schema.get("maxLength", len(text))]
        while len(text) < schema.get("minLength", 0):
            text += "." if self.lang == "en" else "。"
        return text

    def keywords(self, n: int) -> list[str]:
        pool = self.facts or {
            "zh": ["方法", "实验", "分析"],
            "ja": ["手法", "実験", "分析"],
            "ko": ["방법", "실험", "분석"],
        }.get(self.lang, ["method", "experiment", "analysis"])
        return pool[:n]  # never padded with made-up items: a number added to a name is an invented figure

    def value(self, schema: dict[str, Any], name: str = "") -> Any:
        if "$ref" in schema:
            return self.value(self.defs[schema["$ref"].rsplit("/", 1)[-1]], name)
        if "const" in schema:
            return schema["const"]
        for key in ("anyOf", "oneOf"):
            if key in schema:
                options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
                return self.value(options[0], name)
        if "allOf" in schema:
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                merged.update(self.defs[part["$ref"].rsplit("/", 1)[-1]] if "$ref" in part else part)
            return self.value(merged, name)
        kind = schema.get("type", "object" if "properties" in schema else "string")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind == "object":
            props = schema.get("properties", {})
            return {key: self.value(sub, key) for key, sub in props.items()}
        if kind == "array":
            n = max(schema.get("minItems", 0), min(3, schema.get("maxItems", 3)))
            items = schema.get("items", {"type": "string"})
            if items.get("type", "string") == "string" and not {"enum", "$ref", "properties"} & set(items):
                return [k[: items.get("maxLength", len(k))] for k in self.keywords(n)]
            return [self.value(items, name) for _ in range(n)]
        if kind in ("integer", "number"):
            return schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1 if "exclusiveMinimum" in schema else 1)
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return self.string(name, schema)

    def fill(self, schema: dict[str, Any]) -> Any:
        self.defs = schema.get("$defs", schema.get("definitions", {}))
        return self.value(schema)


def _length(text: str, lang: str) -> int:
    return len(re.sub(r"\s+", "", text)) if lang in ("zh", "ja", "ko") else len(text.split())


def _schema_of(body: dict[str, Any]) -> dict[str, Any] | None:
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return (fmt.get("json_schema") or {}).get("schema") or {"type": "object"}
    if fmt.get("type") == "json_object":
        return fmt.get("schema") or {"type": "object", "properties": {"answer": {"type": "string"}}}
    return None


def default_reply(body: dict[str, Any], lang: str | None = None) -> str:
    """The default answer: a schema-valid JSON object, or one sentence for a plain request."""
    writer = _Writer(body, lang or asked_language(body))
    schema = _schema_of(body)
    if schema is None:
        return writer.sentence()
    return json.dumps(writer.fill(schema), ensure_ascii=False)


def _invent_number(content: str, body: dict[str, Any], lang: str) -> str:
    """The reply with a percentage the prompt does not hold added to its first string."""
    prompt = json.dumps(body.get("messages", []), ensure_ascii=False)
    n = 917.3
    while str(n) in prompt:
        n += 1
    clause = _INVENTED[lang].format(n=n)
    try:
        data = json.loads(content)
    except ValueError:
        return content + clause
    if not _append_to_first_string(data, clause):
        return content + clause
    return json.dumps(data, ensure_ascii=False)


def _append_to_first_string(data: Any, clause: str) -> bool:
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        if isinstance(value, str):
            data[key] = value + clause
            return True
        if _append_to_first_string(value, clause):
            return True
    return False


# --- the server ---------------------------------------------------------------------------------


@dataclass
class _Rule:
    kind: str
    when: Callable[[dict[str, Any]], bool]
    times: int | None


class ScriptedServer:
    """See the module docstring. All settings are plain attributes and may change between requests."""

    def __init__(
        self,
        *,
        responder: Responder | None = None,
        model: str = "scripted-qwen3",
        latency: float = 0.0,
        token_latency: float = 0.0,
        concurrency_limit: int | None = None,
        over_limit: str = "wait",
        hold_after: int | None = None,
        thinking_default: bool = False,
        reasoning_format: str = "field",
        reasoning_tokens: int = 24,
        accepts_template_kwargs: bool = True,
        hang_seconds: float = 60.0,
        retry_after: float = 1.0,
        huge_bytes: int = 32 * 1024 * 1024,
        embedding_dim: int = 64,
        port: int = 0,
    ):
        if over_limit not in ("wait", "429"):
            raise ValueError(f"over_limit must be 'wait' or '429', not {over_limit!r}")
        if reasoning_format not in ("field", "tags"):
            raise ValueError(f"reasoning_format must be 'field' or 'tags', not {reasoning_format!r}")
        self.responder = responder
        self.model = model
        self.latency = latency
        self.token_latency = token_latency
        self.concurrency_limit = concurrency_limit
        self.over_limit = over_limit
        self.hold_after = hold_after
        self.thinking_default = thinking_default
        self.reasoning_format = reasoning_format
        self.reasoning_tokens = reasoning_tokens
        self.accepts_template_kwargs = accepts_template_kwargs
        self.hang_seconds = hang_seconds
        self.retry_after = retry_after
        self.huge_bytes = huge_bytes
        self.embedding_dim = embedding_dim
        self.requests: list[Recorded] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.serving = 0
        self.prefix_cache = PrefixCache()
        self._faults: deque[str] = deque()
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._semaphore: asyncio.Semaphore | None = None
        self._semaphore_size = 0
        self._port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.app = self._build_app()

    # --- scripting ---------------------------------------------------------------------------

    def fail_next(self, *kinds: str) -> None:
        """Queue faults, applied in order to the next chat requests."""
        for kind in kinds:
            _check_fault(kind)
        with self._lock:
            self._faults.extend(kinds)

    def fail_when(self, when: Callable[[dict[str, Any]], bool], kind: str, times: int | None = None) -> None:
        """Apply ``kind`` to every chat request whose body satisfies ``when`` (at most ``times``)."""
        _check_fault(kind)
        with self._lock:
            self._rules.append(_Rule(kind, when, times))

    def reset(self) -> None:
        """Forget recorded requests, queued faults and rules (the prefix cache stays warm)."""
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            self._rules.clear()
            self.max_in_flight = self.in_flight

    @property
    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == "/v1/chat/completions"]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1"

    def _take_fault(self, body: dict[str, Any]) -> str | None:
        with self._lock:
            for rule in self._rules:
                if (rule.times is None or rule.times > 0) and rule.when(body):
                    if rule.times is not None:
                        rule.times -= 1
                    return rule.kind
            return self._faults.popleft() if self._faults else None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> ScriptedServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self._port))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1, access_log=False
        )
        self._server = uvicorn.Server(config)
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"scripted-llm-{self._port}"
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the scripted server on port {self._port} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # --- the app -----------------------------------------------------------------------------

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="papersift scripted LLM server")

        @app.get("/v1/models")
        async def models() -> dict[str, Any]:
            return {"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "papersift"}]}

        @app.post("/v1/embeddings")
        async def embeddings(request: Request) -> Any:
            body = await _json_body(request)
            if isinstance(body, JSONResponse):
                return body
            self.requests.append(Recorded("/v1/embeddings", body))
            inputs = body.get("input", [])
            inputs = [inputs] if isinstance(inputs, str) else inputs
            data = [
                {"object": "embedding", "index": i, "embedding": hashed_embedding(t, self.embedding_dim)}
                for i, t in enumerate(inputs)
            ]
            tokens = sum(count_tokens(str(t)) for t in inputs)
            return JSONResponse(
                {
                    "object": "list",
                    "model": body.get("model", self.model),
                    "data": data,
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                }
            )

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> Any:
            body = await _json_body(request)
            if isinstance(body, JSONResponse):
                return body
            return await self._chat(body)

        return app

    async def _chat(self, body: dict[str, Any]) -> Any:
        if not self.accepts_template_kwargs and "chat_template_kwargs" in body:
            self.requests.append(Recorded("/v1/chat/completions", body, fault="rejected"))
            return _error(400, "Unrecognized request argument supplied: chat_template_kwargs")
        fault = self._take_fault(body)
        record = Recorded("/v1/chat/completions", body, fault)
        self.requests.append(record)
        await self._wait_while_held(len(self.chat_requests))
        if fault in STATUS_FAULTS:
            return self._fault_response(fault)
        if fault in BODY_FAULTS:
            return self._broken_body(body, fault)
        if self.concurrency_limit and self.over_limit == "429" and self.serving >= self.concurrency_limit:
            record.fault = "over_limit"
            return self._fault_response("429")
        if body.get("stream"):
            # Everything happens inside the stream, so that a stream never started holds no slot.
            return StreamingResponse(self._stream(body, fault), media_type="text/event-stream")
        async with self._slot():
            reasoning, answer, finish, prompt, cached = await self._produce(body, fault)
            return JSONResponse(self._completion(body, reasoning, answer, finish, prompt, cached))

    def _fault_response(self, fault: str) -> JSONResponse:
        if fault == "429":
            return _error(429, "rate limited by the scripted server", headers={"Retry-After": f"{self.retry_after:g}"})
        if fault == "429_bare":
            return _error(429, "rate limited by the scripted server")
        if fault == "503":
            return _error(503, "the scripted server is overloaded")
        return _error(500, "the scripted server failed on purpose")

    def _broken_body(self, body: dict[str, Any], fault: str) -> Response:
        """A 200 reply whose body is not the completion it should be."""
        if fault == "html":
            page = "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"
            return Response(page, media_type="text/html")
        if fault == "huge":
            completion = self._completion(body, [], "x" * self.huge_bytes, "stop", "", 0)
            return JSONResponse(completion)
        completion = json.dumps(self._completion(body, [], "BROKEN", "stop", "", 0)).encode()
        return Response(completion.replace(b"BROKEN", b"\xff\xfe\xc3("), media_type="application/json")

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        """Count the request in flight, and hold one of the ``concurrency_limit`` places while it is served."""
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            semaphore = self._limit()
            if semaphore is not None:
                await semaphore.acquire()
            self.serving += 1
            try:
                yield
            finally:
                self.serving -= 1
                if semaphore is not None:
                    semaphore.release()
        finally:
            self.in_flight -= 1

    def _limit(self) -> asyncio.Semaphore | None:
        """The semaphore for the current ``concurrency_limit`` (a new one when the setting changed)."""
        if not self.concurrency_limit:
            return None
        if self._semaphore is None or self._semaphore_size != self.concurrency_limit:
            self._semaphore, self._semaphore_size = asyncio.Semaphore(self.concurrency_limit), self.concurrency_limit
        return self._semaphore

    async def _produce(self, body: dict[str, Any], fault: str | None) -> tuple[list[str], str, str, str, int]:
        if fault == "hang":
            await self._sleep(self.hang_seconds)
        await self._sleep(self.latency)
        reasoning, answer, finish = self._compose(body, fault)
        prompt = _prompt_text(body)
        cached = self.prefix_cache.lookup_and_add(prompt) // 4
        return reasoning, answer, finish, prompt, cached

    async def _wait_while_held(self, number: int) -> None:
        while self.hold_after is not None and number > self.hold_after and not self._stopping.is_set():
            await asyncio.sleep(0.05)

    async def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self._stopping.is_set() and (left := end - time.monotonic()) > 0:
            await asyncio.sleep(min(left, 0.05))

    def _thinking(self, body: dict[str, Any]) -> bool:
        kwargs = body.get("chat_template_kwargs") or {}
        if "enable_thinking" in kwargs:
            return bool(kwargs["enable_thinking"])
        last_user = last_user_message(body).rstrip()
        if last_user.endswith(SOFT_OFF):
            return False
        if last_user.endswith(SOFT_ON):
            return True
        return self.thinking_default

    def _compose(self, body: dict[str, Any], fault: str | None) -> tuple[list[str], str, str]:
        """The reasoning (one word a token), the answer, and the finish reason."""
        lang = asked_language(body)
        if fault == "wrong_language":
            reply: Any = default_reply(body, "en" if lang != "en" else "zh")
        elif self.responder is not None:
            reply = self.responder(body)
        else:
            reply = default_reply(body, lang)
        reasoning_text = reply.reasoning if isinstance(reply, Reply) else None
        answer = reply.content if isinstance(reply, Reply) else reply
        answer = json.dumps(answer, ensure_ascii=False) if isinstance(answer, (dict, list)) else str(answer)
        finish = "stop"
        if fault == "truncated":
            answer, finish = answer[: max(1, len(answer) // 2)], "length"
        elif fault == "prose":
            answer = "Sure! Here is what the paper is about. " + default_reply({**body, "response_format": None}, lang)
        elif fault == "invented_number":
            answer = _invent_number(answer, body, lang)
        messages = body.get("messages", [])
        continuing = body.get("continue_final_message") and messages and messages[-1].get("role") == "assistant"
        if continuing and THINK_CLOSE in (messages[-1].get("content") or ""):
            reasoning: list[str] = []
        elif reasoning_text is not None:
            reasoning = reasoning_text.split()
        elif self._thinking(body):
            reasoning = [REASONING_WORDS[i % len(REASONING_WORDS)] for i in range(self.reasoning_tokens)]
        else:
            reasoning = []
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        if limit is not None and len(reasoning) + count_tokens(answer) > limit:
            reasoning = reasoning[:limit]
            answer, finish = answer[: 4 * (limit - len(reasoning))], "length"
        return reasoning, answer, finish

    def _usage(self, prompt: str, cached: int, reasoning: list[str], answer: str) -> dict[str, Any]:
        prompt_tokens = count_tokens(prompt)
        completion = len(reasoning) + count_tokens(answer)
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": min(cached, prompt_tokens)},
            "completion_tokens_details": {"reasoning_tokens": len(reasoning)},
        }

    def _inline(self, body: dict[str, Any]) -> bool:
        """Whether the reasoning goes into the content as a ``<think>`` block (Qwen3 without a parser)."""
        return self.reasoning_format == "tags" and not body.get("continue_final_message")

    def _completion(self, body, reasoning, answer, finish, prompt, cached) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": answer}
        if self._inline(body):
            message["content"] = f"<think>\n{' '.join(reasoning)}\n</think>\n\n{answer}"
        elif reasoning:
            message["reasoning_content"] = " ".join(reasoning)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": self._usage(prompt, cached, reasoning, answer),
        }

    async def _stream(self, body: dict[str, Any], fault: str | None) -> AsyncIterator[str]:
        async with self._slot():
            reasoning, answer, finish, prompt, cached = await self._produce(body, fault)
            ident, created, model = (
                f"chatcmpl-{uuid.uuid4().hex[:12]}",
                int(time.time()),
                body.get("model") or self.model,
            )

            def chunk(delta: dict[str, Any] | None, finish_reason: str | None = None, **extra: Any) -> str:
                choices = [{"index": 0, "delta": delta, "finish_reason": finish_reason}] if delta is not None else []
                data = {
                    "id": ident,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": choices,
                    **extra,
                }
                return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

            yield chunk({"role": "assistant", "content": ""})
            inline = self._inline(body)
            pieces: list[dict[str, str]] = [{"content": "<think>\n"}] if inline else []
            pieces += [{"content" if inline else "reasoning_content": w + " "} for w in reasoning]
            if inline:
                pieces.append({"content": "\n</think>\n\n"})
            pieces += [{"content": answer[i : i + 4]} for i in range(0, len(answer), 4)]
            for delta in pieces:
                if self._stopping.is_set():
                    return
                if self.token_latency:
                    await asyncio.sleep(self.token_latency)
                yield chunk(delta)
            yield chunk({}, finish)
            if (body.get("stream_options") or {}).get("include_usage"):
                yield chunk(None, usage=self._usage(prompt, cached, reasoning, answer))
            yield "data: [DONE]\n\n"


def _check_fault(kind: str) -> None:
    if kind not in FAULTS:
        raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULTS)}")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    kind = {400: "invalid_request_error", 429: "rate_limit_error"}.get(status, "server_error")
    return JSONResponse(
        {"error": {"message": message, "type": kind, "code": status}}, status_code=status, headers=headers
    )


async def _json_body(request: Request) -> dict[str, Any] | JSONResponse:
    try:
        body = json.loads(await request.body())
    except ValueError as exc:
        return _error(400, f"request body is not JSON: {exc}")
    return body if isinstance(body, dict) else _error(400, "request body must be a JSON object")


def _prompt_text(body: dict[str, Any]) -> str:
    return "".join(f"<|{m.get('role')}|>{m.get('content') or ''}" for m in body.get("messages", []))


def hashed_embedding(text: str, dim: int) -> list[float]:
    """A deterministic unit vector: the signed hashed bag of the text's lower-cased words."""
    vector = [0.0] * dim
    for word in re.findall(r"\w+", text.lower()):
        h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")
        vector[h % dim] += 1.0 if (h >> 32) & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python tests/support/llm_server.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8011, help="port on 127.0.0.1 (0: any free one)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each reply")
    parser.add_argument("--token-latency", type=float, default=0.0, help="seconds between streamed chunks")
    parser.add_argument("--concurrency", type=int, default=None, help="requests served at once")
    parser.add_argument(
        "--over-limit", choices=("wait", "429"), default="wait", help="what happens beyond --concurrency"
    )
    parser.add_argument("--thinking", action="store_true", help="think unless a request turns it off")
    parser.add_argument(
        "--reasoning-format",
        choices=("field", "tags"),
        default="field",
        help="reasoning_content field (vLLM with a parser) or <think> tags in the content",
    )
    args = parser.parse_args(argv)
    server = ScriptedServer(
        port=args.port,
        latency=args.latency,
        token_latency=args.token_latency,
        concurrency_limit=args.concurrency,
        over_limit=args.over_limit,
        thinking_default=args.thinking,
        reasoning_format=args.reasoning_format,
    )
    with server:
        print(f"scripted OpenAI-compatible server at {server.base_url} (Ctrl-C to stop)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
