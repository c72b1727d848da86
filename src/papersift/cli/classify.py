"""``papersift classify``: assign sub-areas, train, and measure the classifier."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from . import common

METHODS = ("supervised", "llm", "combined")


def _print_evaluation(evaluation, as_json: bool, *, brief: bool = False) -> None:
    if as_json:
        common.print_json(evaluation.as_dict(brief=brief))
        return
    out = common.Console()
    out.print(
        f"accuracy [bold]{evaluation.accuracy:.3f}[/], macro-F1 [bold]{evaluation.macro_f1:.3f}[/] "
        f"on {evaluation.n} papers"
        + (f" ({evaluation.folds}-fold CV)" if evaluation.folds else "")
        + (f", {evaluation.method}" if evaluation.method != "supervised" else "")
        + (f" ({evaluation.llm_failed} LLM calls failed)" if evaluation.llm_failed else "")
    )
    if evaluation.chosen:
        out.print(f"models chosen by inner CV: {', '.join(evaluation.chosen)}", highlight=False)
    if not brief:
        table = Table("true \\ predicted", *[label[:12] for label in evaluation.labels])
        for label, row in zip(evaluation.labels, evaluation.confusion):
            table.add_row(label, *[str(n) for n in row])
        out.print(table)


def _read_eval_file(path: Path):
    from ..sources.base import SourceError
    from ..sources.files import read_file

    try:
        items = list(read_file(path, None))
    except SourceError as exc:
        common.fail(str(exc))
    errors = [str(item) for item in items if not hasattr(item, "abstract")]
    if errors:
        common.fail(f"{path}: {len(errors)} invalid record(s):\n  " + "\n  ".join(errors[:20]))
    return items


def _zero_shot(store, taxonomy):
    """The LLM classifier, choosing among the sub-areas the store has labels for (else all of the taxonomy)."""
    from ..classify.pipeline import labelled_papers
    from ..classify.zeroshot import ZeroShotClassifier
    from ..llm.base import LLMError

    keys = sorted({label for _, label in labelled_papers(store) if label in taxonomy}) or None
    try:
        return ZeroShotClassifier.from_settings(common.settings(), taxonomy, store, keys)
    except (LLMError, ValueError, OSError) as exc:  # no LLM configured or loadable: say so, don't trace
        common.fail(f"the LLM classifier cannot start: {exc}", code=common.ENVIRONMENT)


def classify(
    train: bool = typer.Option(
        False,
        "--train",
        help="Train the supervised model on the labelled papers (again) and report it; assign nothing.",
    ),
    evaluate: bool = typer.Option(
        False,
        "--eval",
        help="Stratified k-fold cross-validation on the labelled papers: accuracy, macro-F1, confusion matrix.",
    ),
    folds: int = typer.Option(5, "--folds", help="Number of folds for --eval."),
    eval_on: Path = typer.Option(
        None,
        "--eval-on",
        help="Train on the store's labelled papers (minus this file's) and score --method on this labelled JSONL/CSV file.",
    ),
    method: str = typer.Option(
        "supervised", "--method", help="supervised | llm (zero-shot from the taxonomy's descriptions) | combined."
    ),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Assign a sub-area to every paper no source or user labelled; or train, or evaluate."""
    from ..classify import pipeline
    from ..classify.supervised import TrainingError
    from ..search.embeddings import EmbeddingError, embed_store, get_embedder
    from ..taxonomy import TaxonomyError, load_taxonomy

    if method not in METHODS:
        common.fail(f"--method: {method!r} is not one of {', '.join(METHODS)}")
    if folds < 2:
        common.fail(f"--folds: need at least 2, not {folds}")
    try:
        taxonomy = load_taxonomy(common.settings())
        embedder = get_embedder(common.settings())
    except (TaxonomyError, EmbeddingError) as exc:
        common.fail(str(exc))
    records = _read_eval_file(eval_on) if eval_on else None
    with common.open_store() as store, store.job("classify"):
        try:
            if records is not None:
                embed_store(store, embedder)
                zero_shot = _zero_shot(store, taxonomy) if method != "supervised" else None
                evaluation = pipeline.evaluate_on(store, records, embedder, method=method, zero_shot=zero_shot)
                _print_evaluation(evaluation, as_json, brief=True)
            elif evaluate:
                embed_store(store, embedder)
                examples = pipeline.training_examples(store, embedder)
                _print_evaluation(pipeline.cross_validate(examples, folds), as_json)
            elif train:
                embed_store(store, embedder)
                model = pipeline.trained_classifier(pipeline.training_examples(store, embedder), embedder, retrain=True)
                info = {
                    "bases": "+".join(model.bases),
                    "classes": model.classes,
                    "n_train": model.n_train,
                    "hash": model.training_hash,
                    "inner_cv_accuracy": model.selection,
                }
                if as_json:
                    common.print_json(info)
                else:
                    common.console.print(
                        f"trained {info['bases']} on {model.n_train} papers, "
                        f"{len(model.classes)} sub-areas (model {model.training_hash})"
                    )
            else:
                _assign(store, taxonomy, embedder, method, as_json)
        except (TrainingError, EmbeddingError) as exc:
            common.fail(str(exc))


def _assign(store, taxonomy, embedder, method: str, as_json: bool) -> None:
    from ..classify import pipeline

    zero_shot = _zero_shot(store, taxonomy) if method != "supervised" else None
    with common.progress_bar() as bar:
        task = bar.add_task(f"classify ({method})", total=len(pipeline.unlabelled_papers(store)))
        report = pipeline.classify_store(
            store, taxonomy, embedder, method=method, zero_shot=zero_shot, on_progress=lambda n: bar.advance(task, n)
        )
    if as_json:
        common.print_json(report.as_dict())
        return
    for error in report.errors:
        common.console.print(f"[yellow]failed[/] {error}", highlight=False, markup=True)
    common.console.print(
        f"classified {report.classified} papers, assigned {report.assigned} topics ({method})"
        + (f", [red]{len(report.errors)} failed[/]" if report.errors else ""),
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command("classify")(classify)
