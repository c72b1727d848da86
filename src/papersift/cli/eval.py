"""``papersift eval readings`` (how well the faithfulness guard works) and ``papersift eval cards``
(how good a store's cards are), on reference data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from . import common

eval_app = typer.Typer(
    cls=common.Commands, help="Measure papersift's own quality on reference data.", no_args_is_help=True
)

REFERENCE_HELP = (
    "A JSONL file of reference readings, one paper a line with 'abstract' and 'summary_zh' "
    "(motivation, problem, observation, method, experiments, contribution), such as shared/data/catalog-dev.jsonl."
)
READINGS_HELP = (
    "Check reference readings with the faithfulness guard, then plant one error per copy and count catches.\n\n"
    "Reports the false-alarm rate (reference readings flagged; also those the quality gate fails), the catch rate (planted wrong numbers and "
    "swapped model/dataset names caught), and the readings' lengths, also of the readings the store (--db) "
    "holds for papers with the same abstracts."
)


def _references(reference: Path | None, load: Any, help_text: str) -> list[Any]:
    """The records of a ``--reference`` file, or a clear error naming the file (and the line)."""
    from ..evaluate.readings import ReferenceFileError

    if reference is None:
        common.fail(f"--reference FILE is needed. {help_text}")
    if not reference.exists():
        common.fail(f"{reference}: no such file")
    try:
        records = load(reference)
    except ReferenceFileError as exc:
        common.fail(str(exc))
    if not records:
        common.fail(f"{reference}: no records")
    return records


@eval_app.command("readings", help=READINGS_HELP)
def readings(
    reference: Path = typer.Option(None, "--reference", help=REFERENCE_HELP, dir_okay=False),
    limit: int = typer.Option(None, "--limit", "-n", min=1, help="Only the first N records."),
    seed: int = typer.Option(0, "--seed", help="Seed for choosing and planting the errors."),
    details: bool = typer.Option(
        False, "--details", help="Also list the flagged readings and the planted errors the guard missed."
    ),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Check reference readings with the faithfulness guard, then plant one error per copy and count catches."""
    from ..evaluate import readings

    records = _references(reference, readings.load_reference, REFERENCE_HELP)[:limit]
    report = readings.evaluate(records, seed=seed)
    lengths: dict[str, Any] = {**readings.reading_lengths([r.reading for r in records])}
    generated = _stored(records)
    if generated is not None:
        lengths["generated"] = generated
    summary = report.summary(lengths) | {"seed": seed}
    if details:
        summary |= report.details()
    if as_json:
        common.print_json(summary)
    else:
        _print(summary)


def _stored(records: list) -> dict[str, Any] | None:
    """Lengths and guard verdicts of the stored readings of the same papers, if the store exists."""
    from ..evaluate import readings
    from ..store import Store, StoreError

    path = Path(common.settings().db)
    if not path.exists():
        return None
    try:
        store = Store(path, readonly=True)
    except StoreError as exc:
        common.fail(str(exc))
    try:
        return readings.stored_readings_report(store, records)
    finally:
        store.close()


def _pct(rate: float | None) -> str:
    return "–" if rate is None else f"{100 * rate:.2f}%"


def _print(summary: dict[str, Any]) -> None:
    lines = [
        f"reference readings: {summary['n']}, flagged {summary['flagged']} "
        f"(false-alarm rate {_pct(summary['false_alarm_rate'])})",
        f"planted errors: {summary['planted']}, caught {summary['planted_caught']} (catch rate {_pct(summary['catch_rate'])})",
        *(
            f"  {kind}: {row['planted']} planted, {row['caught']} caught ({_pct(row['catch_rate'])})"
            for kind, row in summary["by_kind"].items()
        ),
        f"quality gate: {summary['gate_failed']} reference readings fail it "
        f"(false-alarm rate {_pct(summary['gate_false_alarm_rate'])})"
        + "".join(f", {rule} {n}" for rule, n in sorted(summary["gate_by_rule"].items())),
    ]
    length = summary["length"]
    lines.append(
        f"length: {length['mean_chars_per_field']} characters a field, {length['mean_reading_chars']} a reading"
    )
    if generated := length.get("generated"):
        lines.append(
            f"stored readings of these papers: {generated['n']}, {generated['mean_chars_per_field']} characters "
            f"a field, {generated['mean_reading_chars']} a reading, flagged {generated['flagged']}"
        )
    for item in summary.get("flagged_readings", []):
        lines.append(f"flagged {item['id']}: " + "; ".join(f"{k} {v!r} ({f})" for k, f, v in item["violations"]))
    for item in summary.get("poor_readings", []):
        lines.append(f"poor {item['id']}: " + "; ".join(item["issues"]))
    for item in summary.get("missed", []):
        lines.append(
            f"missed {item['id']} {item['kind']} in {item['field']}: {item['original']!r} -> {item['planted']!r}"
        )
    common.Console().print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)


CARDS_REFERENCE_HELP = (
    "A JSONL file of references, one paper a line, with 'summary_zh' either the six reading fields "
    "(shared/data/catalog-dev.jsonl) or a digest paragraph (shared/data/digest-examples.jsonl), and 'arxiv_id', "
    "'id' or 'abstract' to find the paper in the store."
)
CARDS_HELP = (
    "Compare the cards a store (--db) holds with reference readings or digest paragraphs.\n\n"
    "Per paper and overall: the card's status, the share of the reference's numbers the card states too, "
    "the median reading field (or the digest) against the reference's length, the pairs of fields that repeat "
    "each other, and the share of English words inside target-language sentences. Run it on the cards of "
    "different models or prompts to compare them."
)


@eval_app.command("cards", help=CARDS_HELP)
def cards(
    reference: Path = typer.Option(None, "--reference", help=CARDS_REFERENCE_HELP, dir_okay=False),
    lang: str = typer.Option(None, "--lang", help="The cards' language (default: llm.lang of the config)."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Compare the cards a store holds with reference readings or digest paragraphs."""
    from ..evaluate import cards

    references = _references(reference, cards.load_card_references, CARDS_REFERENCE_HELP)
    with common.open_store() as store:
        report = cards.evaluate_store(store, references, lang or common.settings().llm.lang)
    if as_json:
        common.print_json(report)
    else:
        _print_cards(report)


def _print_cards(report: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table("reference", "status", "numbers", "length (ref)", "repeated fields", "Latin words")
    for p in report["papers"]:
        numbers = f"{p['numbers_found']}/{p['numbers_total']}" if p["numbers_total"] else "–"
        length = f"{p['length'] if p['length'] is not None else '–'} ({p['reference_length']})"
        repeats = ", ".join(f"{a}={b} {score:.0%}" for a, b, score in p["repeated"])
        latin = "–" if p["latin_share"] is None else f"{p['latin_share']:.1%}"
        table.add_row(p["reference"], p["status"], numbers, length, repeats, latin)
    out = common.Console()
    out.print(table)
    o = report["overall"]
    what = "reading field" if report["kind"] == "reading" else "digest"
    out.print(
        f"{o['references']} references, {o['matched']} in the store, {o['cards']} with a card; status "
        + ", ".join(f"{k} {v}" for k, v in sorted(o["status"].items()))
        + f"\nnumber recall {_pct(o['number_recall'])} ({o['numbers_found']}/{o['numbers_total']}); "
        f"median {what} {o['median_length']} (reference {o['median_reference_length']}); "
        f"cards with repeated fields {o['cards_with_repeats']} (stored ok: {o['ok_cards_with_repeats']}); "
        f"Latin-word share {_pct(o['mean_latin_share'])}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
