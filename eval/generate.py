"""Generation: task rows -> `<output dir>/<task>/predictions.jsonl`, batched, resumable, failures recorded.

The file is the single hand-over to scoring. It is appended and flushed batch by batch, so a killed run loses at most
the batch in flight; a rerun keeps every finished row (same id, no error), retries rows that failed, drops a line cut
short by the kill, and asks the model only for what is missing. `settings.json` beside it records what the
predictions depend on (model, prompt, decoding); a rerun with different settings refuses to mix them unless
`force` starts the task afresh. When the task is done the file holds its rows in dataset order, however often the
run was interrupted; a data-parallel run (eval.shard) appends to one file per rank and merges them into it.

Failures never vanish: an unreadable image (at read time or when decoded here) or a generation that fails even when
retried alone becomes a row with an `error` and an empty prediction, counted by the scorers.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from common.data import DataError, load_image

from .backends import Generation, Request
from .shard import ONE_PROCESS, Shard
from .tasks import PromptOptions, Row, Task

logger = logging.getLogger(__name__)

PREDICTIONS = "predictions.jsonl"
RANK_FILES = "predictions.rank*.jsonl"  # a sharded run's per-rank files (rank_file)
SETTINGS = "settings.json"


class Backend(Protocol):
    name: str

    def generate(
        self, requests: Sequence[Request], *, max_new_tokens: int, stop: Sequence[str]
    ) -> list[Generation]: ...


@dataclass
class GenerationSummary:
    task: str
    samples: int  # rows of this run
    reused: int  # finished rows found in the predictions file
    generated: int  # rows the model answered in this run
    errors: int  # rows recorded with an error in this run


@dataclass
class Predictions:
    rows: list[Row]
    cut_line: int | None = None  # number of a last line cut short by an interrupted write (left out), else None


def read_prediction_file(path: str | os.PathLike) -> Predictions:
    """Rows of a predictions file, for every reader (generation's resume, eval.run, eval.score).

    - A last line without its newline that is not valid JSON is a write cut short by a kill: left out, its number
      kept in `cut_line` for the caller to report.
    - Any other unreadable line, or a row without string `id` and `prediction`: DataError naming file and line.
    - Each id must appear once: a repeated id (two runs appending to one file, or files concatenated) is a
      DataError naming both lines, never counted twice or resolved by guessing which row is right.
    """
    text = Path(path).read_text(encoding="utf-8")
    lines = text.split("\n")
    rows: list[Row] = []
    first_line: dict[str, int] = {}
    cut_line = None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines):  # no newline after it: the writer was interrupted
                cut_line = number
                continue
            raise DataError(path, number, f"invalid JSON ({exc.msg})") from exc
        if (
            not isinstance(row, dict)
            or not isinstance(row.get("id"), str)
            or not isinstance(row.get("prediction"), str)
        ):
            raise DataError(path, number, "expected an object with string 'id' and 'prediction'")
        if row["id"] in first_line:
            raise DataError(
                path,
                number,
                f"duplicate id {row['id']!r}, already in record {first_line[row['id']]}: one row per sample",
            )
        first_line[row["id"]] = number
        rows.append(row)
    return Predictions(rows, cut_line)


def read_predictions(path: str | os.PathLike) -> list[Row]:
    """The rows of `read_prediction_file`, with a warning when a cut-short last line was left out."""
    predictions = read_prediction_file(path)
    if predictions.cut_line is not None:
        logger.warning(
            "%s: line %d is incomplete (the file ends inside it: a write cut short) and was left out",
            path,
            predictions.cut_line,
        )
    return predictions.rows


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """Write JSON through a temporary file and `os.replace`, so readers never see a half-written file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _check_settings(folder: Path, settings: dict, force: bool) -> None:
    path = folder / SETTINGS
    if path.is_file() and not force:
        previous = json.loads(path.read_text(encoding="utf-8"))
        changed = sorted(k for k in set(previous) | set(settings) if previous.get(k) != settings.get(k))
        if changed and (folder / PREDICTIONS).is_file():
            raise ValueError(
                f"{folder / PREDICTIONS} was generated with different settings ({', '.join(changed)}): "
                "use --force to regenerate it, or another --output-dir"
            )
    write_json_atomic(path, settings)


def _batches(rows: Sequence[Row], size: int) -> Iterator[list[Row]]:
    for start in range(0, len(rows), size):
        yield list(rows[start : start + size])


def _generate_batch(
    backend: Backend, task: Task, requests: list[Request], max_new_tokens: int
) -> list[Generation | str]:
    """Generations, or an error message per request; a failed batch is retried one request at a time."""
    try:
        return list(backend.generate(requests, max_new_tokens=max_new_tokens, stop=task.stop))
    except Exception as exc:  # noqa: BLE001 - any backend failure (OOM, a bad input) must cost one sample, not the run
        if len(requests) == 1:
            logger.warning("%s: generation failed: %r", task.key, exc)
            return [f"generation failed: {exc!r}"]
        logger.warning("%s: a batch of %d failed (%r); retrying one by one", task.key, len(requests), exc)
        return [_generate_batch(backend, task, [request], max_new_tokens)[0] for request in requests]


def rank_file(folder: Path, rank: int) -> Path:
    """The predictions file rank `rank` of a data-parallel run appends to (eval.shard)."""
    return folder / f"predictions.rank{rank}.jsonl"


def _fold(folder: Path, rows: Sequence[Row], *, keep_errors: bool) -> None:
    """Rewrite `<folder>/predictions.jsonl` with the rows it and the rank files of a sharded run hold for the
    samples `rows`, in dataset order (a finished row first; failed rows only with `keep_errors`), then remove the
    rank files."""
    wanted = {row["id"] for row in rows}
    ranks = sorted(folder.glob(RANK_FILES))
    found: dict[str, Row] = {}
    for source in [folder / PREDICTIONS, *ranks]:
        if not source.exists():
            continue
        for row in read_predictions(source):
            if row["id"] not in wanted or (row.get("error") and not keep_errors):
                continue
            if row["id"] not in found or found[row["id"]].get("error"):
                found[row["id"]] = row
    path = folder / PREDICTIONS
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as out:
        for row in rows:
            if row["id"] in found:
                out.write(json.dumps(found[row["id"]], ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    for source in ranks:  # after the merged file is in place: a kill in between leaves a row twice, never lost
        source.unlink()


def generate_task(
    task: Task,
    rows: Sequence[Row],
    backend_factory: Callable[[], Backend],
    output_dir: str | os.PathLike,
    *,
    prompt: PromptOptions,
    settings: dict,
    batch_size: int,
    max_new_tokens: int,
    force: bool = False,
    shard: Shard = ONE_PROCESS,
) -> GenerationSummary:
    """Bring `<output_dir>/<task.key>/predictions.jsonl` up to date with `rows`.

    `backend_factory()` is called only when some row needs the model, so a complete rerun loads nothing.
    The rows are cut into batches of `batch_size` in dataset order (0: one batch, which vLLM schedules itself; with
    N ranks, N contiguous batches); a rerun sends each batch's missing rows in that batch's call. `shard` generates
    only its own batches into its rank file (eval.shard), and every rank returns the summary of the whole task.
    """
    folder = Path(output_dir) / task.key
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / PREDICTIONS
    if len({row["id"] for row in rows}) != len(rows):
        raise ValueError(f"{task.key}: sample ids are not unique")
    if shard.main:
        if force:
            for stale in [path, *folder.glob(RANK_FILES)]:
                stale.unlink(missing_ok=True)
        _check_settings(folder, {**settings, "max_new_tokens": max_new_tokens}, force)
        # Keep only the finished rows of this sample set, with those a killed sharded run left in its rank files
        # (drops failed and cut-short lines, to be generated again) ...
        _fold(folder, rows, keep_errors=False)
    shard.barrier(f"{task.key}/start")
    finished = {row["id"] for row in read_predictions(path)}

    step = batch_size if batch_size > 0 else max(1, -(-len(rows) // shard.world))
    mine = [
        [row for row in batch if row["id"] not in finished]
        for number, batch in enumerate(_batches(rows, step))
        if shard.owns(number)
    ]
    mine = [batch for batch in mine if batch]
    summary = GenerationSummary(task.key, len(rows), len(finished), 0, 0)
    if mine:
        # ... then append the rest batch by batch (one process: to predictions.jsonl itself).
        out_path = path if shard.world == 1 else rank_file(folder, shard.rank)
        _generate_batches(task, mine, backend_factory(), out_path, summary, prompt, max_new_tokens)
    counts = shard.gather(f"{task.key}/done", [summary.generated, summary.errors])
    summary.generated, summary.errors = (sum(column) for column in zip(*counts))
    if shard.main:
        # Every rank is done: all rows in dataset order, as a one-process run without interruption writes them.
        _fold(folder, rows, keep_errors=True)
    if summary.reused == len(rows):
        logger.info("%s: all %d predictions already in %s", task.key, len(rows), path)
    return summary


def _generate_batches(
    task: Task,
    batches: list[list[Row]],
    backend: Backend,
    path: Path,
    summary: GenerationSummary,
    prompt: PromptOptions,
    max_new_tokens: int,
) -> None:
    with (
        path.open("a", encoding="utf-8") as out,
        tqdm(total=sum(map(len, batches)), desc=task.key, unit="sample") as bar,
    ):

        def emit(row: Row) -> None:
            # `images` holds a multi-image row's decoded images (EarthDial shards): in memory only; `image` names them.
            row = {k: v for k, v in row.items() if k != "images"}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            summary.errors += bool(row.get("error"))

        for batch in batches:
            ready: list[tuple[Row, Request]] = []
            for row in batch:
                if row.get("error"):
                    emit(row)
                    continue
                try:
                    images = [load_image(source) for source in row.get("images") or [row["image"]]]
                except DataError as exc:
                    emit({**row, "prediction": "", "error": str(exc)})
                    continue
                # Upstream records the image size when the data has none (SAMChat's log; ScoreRS's `size`).
                row = row if "size" in row else {**row, "size": list(images[0].size)}
                request = Request(task.messages(row, prompt), images if "images" in row else images[0])
                ready.append((row, request))
            if ready:
                results = _generate_batch(backend, task, [request for _, request in ready], max_new_tokens)
                for (row, _), result in zip(ready, results):
                    if isinstance(result, str):
                        emit({**row, "prediction": "", "error": result})
                    else:
                        extra = {"input_size": result.input_size} if result.input_size else {}
                        emit({**row, "prediction": result.text, **extra})
                        summary.generated += 1
            out.flush()
            bar.update(len(batch))
