"""EarthDial-Bench scoring (the protocol GeoVLM-R1 reports on): five-number rotated boxes, rotated IoU, token recall,
caption metrics, and the per-task aggregates, exactly as EarthDial's scorers compute them (EARTHDIAL.md 1, 3).

Shared by the evaluation tasks (`eval.tasks.earthdial`) and the GeoVLM-R1 GRPO rewards, so that what a model is
trained towards and what it is measured on are one computation. Every function is pure over already-extracted
answers: callers strip `<think>` / `<answer>` with `common.parsing.extract_answer` first (EarthDial's own models
answer without tags, so its scripts score the raw text).

Boxes are `[x_left, y_top, x_right, y_bottom, theta]`, integers on a 0-100 grid with theta in degrees (the
`grid100` frame). Three readers reproduce the three upstream scorers' parsing character for character; one lenient
reader (`parse_rotated_boxes`) serves the strict protocol and the rewards. The 4-number paths of `common.parsing`
are a separate frame and stay as they are.

Text tools: NLTK's `word_tokenize` needs the `punkt_tab` model and METEOR needs WordNet, neither downloadable
offline. `word_tokenize` here uses NLTK's own when `punkt_tab` is installed and otherwise an untrained
`PunktSentenceTokenizer` followed by NLTK's Treebank word tokenizer, which reproduces EarthDial's published numbers
(EARTHDIAL.md 4, 6). WordNet is NLTK's (a cluster's NLTK data) or the project's `.nltk_data` built from Debian's
WordNet 3.0 by scripts/build_nltk_data.py; `text_tools()` says which were used.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

RotatedBox = tuple[float, float, float, float, float]  # x_left, y_top, x_right, y_bottom, theta (degrees)

GRID100 = 100.0  # the frame of every EarthDial box
PROJECT_NLTK_DATA = Path(__file__).resolve().parents[1] / ".nltk_data"

# --------------------------------------------------------------------------------------------------------------
# Box parsing

# rs_detection / xBD detection (eval.py, eval_detection.py): a bracketed list of unsigned integers, commas required
# and no space before a comma, any length; "[-1, 2, ...]" or "[1.5, ...]" is not matched at all.
_UPSTREAM_LIST_RE = re.compile(r"\[\s*(\d+(?:,\s*\d+)*)\s*\]")
# rs_grounding_description: exactly five unsigned integers.
_GROUNDING_RE = re.compile(r"\[\s*(\d+),\s*(\d+),\s*(\d+),\s*(\d+),\s*(\d+)\s*\]")
# Lenient: five signed decimals separated by commas and/or spaces (the strict protocol and the rewards).
_NUM = r"-?\d+(?:\.\d+)?"
_SEP = r"(?:\s*,\s*|\s+)"
_ROTATED_RE = re.compile(rf"\[\s*({_NUM}){_SEP}({_NUM}){_SEP}({_NUM}){_SEP}({_NUM}){_SEP}({_NUM})\s*\]")


def _int_lists(text: str) -> list[list[int]]:
    return [[int(part) for part in match.split(",")] for match in _UPSTREAM_LIST_RE.findall(text)]


def parse_refer_boxes(text: str) -> list[list[int]]:
    """Boxes as EarthDial's referring-detection scorer reads them (EARTHDIAL.md 3.3): every bracketed list of
    unsigned integers, of any length, after `][` -> `], [` and `]], [[` -> `], [`.

    >>> parse_refer_boxes("[[18, 21, 22, 25, 90]][[18, 18, 22, 22, 90]]")
    [[18, 21, 22, 25, 90], [18, 18, 22, 22, 90]]
    >>> parse_refer_boxes("[[-1, 5, 10, 20, 0]] [[1, 2, 3, 4]]")  # the negative box vanishes; 4 numbers stay
    [[1, 2, 3, 4]]
    """
    if not text:
        return []
    return _int_lists(text.replace("][", "], [").replace("]], [[", "], ["))


def parse_xbd_boxes(text: str) -> list[list[int]]:
    """Boxes as EarthDial's xBD detection scorer reads them (EARTHDIAL.md 3.8): as `parse_refer_boxes` with only the
    `][` rewrite (the two give the same boxes).

    >>> parse_xbd_boxes("[[31, 30, 37, 37, 0]][[43, 21, 46, 27, 0]]")
    [[31, 30, 37, 37, 0], [43, 21, 46, 27, 0]]
    """
    return _int_lists(text.replace("][", "], ["))


def parse_grounding_boxes(text: str) -> list[tuple[int, int, int, int, int]]:
    """Boxes as EarthDial's grounding-description scorer reads them (EARTHDIAL.md 3.7): exactly five unsigned
    integers in brackets, comma then optional spaces.

    >>> parse_grounding_boxes("buildings [[80, 0, 88, 12, 90], [88, 0, 100, 12, 90]] and [1,2,3,4]")
    [(80, 0, 88, 12, 90), (88, 0, 100, 12, 90)]
    """
    return [tuple(int(v) for v in match) for match in _GROUNDING_RE.findall(text)]  # type: ignore[misc]


def parse_rotated_boxes(text: str) -> list[RotatedBox]:
    """Every five-number box in `text`, leniently: signed decimals, commas and/or spaces, `[[..]][[..]]` or
    `[[..], [..]]`; boxes with a non-finite value are dropped. The strict protocol's and the rewards' reader.

    >>> parse_rotated_boxes("[[-3, 5, 10.5, 20, 0]] [[1 2 3 4 45]] [1, 2, 3, 4]")
    [(-3.0, 5.0, 10.5, 20.0, 0.0), (1.0, 2.0, 3.0, 4.0, 45.0)]
    """
    boxes = []
    for match in _ROTATED_RE.finditer(text):
        try:
            box = tuple(float(v) for v in match.groups())
        except ValueError:  # a Unicode digit float() refuses
            continue
        if all(math.isfinite(v) for v in box):
            boxes.append(box)
    return boxes  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------------------------
# Rotated IoU


def rotated_corners(box: Sequence[float], theta: float | None = None) -> list[tuple[float, float]]:
    """The four corners of `[xl, yt, xr, yb, theta]` rotated about the centre as upstream does: the corners
    `[xl,yt],[xr,yt],[xr,yb],[xl,yb]`, centred, multiplied as row vectors by `[[cos, -sin], [sin, cos]]` of
    `radians(theta)`, shifted back. With `theta` given, `box` is the four corners alone (the synthetic generator
    paints its targets so). Raises ValueError for a box without exactly five numbers (four with `theta`).

    >>> [tuple(round(v, 6) for v in c) for c in rotated_corners([0, 0, 4, 2, 90])]
    [(1.0, 3.0), (1.0, -1.0), (3.0, -1.0), (3.0, 3.0)]
    >>> rotated_corners([0, 0, 4, 2], 90) == rotated_corners([0, 0, 4, 2, 90])
    True
    """
    if theta is not None:
        box = [*box, theta]
    if len(box) != 5:
        raise ValueError(f"a rotated box needs 5 numbers [x1, y1, x2, y2, theta], got {list(box)}")
    xl, yt, xr, yb, theta = (float(v) for v in box)
    cx, cy = (xl + xr) / 2, (yt + yb) / 2
    cos, sin = math.cos(math.radians(theta)), math.sin(math.radians(theta))
    corners = []
    for x, y in ((xl, yt), (xr, yt), (xr, yb), (xl, yb)):
        dx, dy = x - cx, y - cy
        corners.append((dx * cos + dy * sin + cx, -dx * sin + dy * cos + cy))
    return corners


def rotated_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two five-number rotated boxes with shapely polygons, as upstream: 0 when either polygon is invalid
    (zero width or height), else intersection / union (0 when the union is 0). An inverted box (x1 > x2) is a
    valid rectangle. Raises ValueError for a box without exactly five numbers.

    >>> rotated_iou([0, 0, 10, 10, 0], [5, 0, 15, 10, 0])
    0.3333333333333333
    >>> round(rotated_iou([0, 0, 10, 2, 0], [4, -4, 6, 6, 90]), 6)  # a 10x2 bar turned upright by 90 degrees
    1.0
    >>> rotated_iou([0, 0, 0, 10, 0], [0, 0, 10, 10, 0])
    0.0
    """
    from shapely.geometry import Polygon

    first, second = Polygon(rotated_corners(a)), Polygon(rotated_corners(b))
    if not first.is_valid or not second.is_valid:
        return 0.0
    union = first.union(second).area
    return float(first.intersection(second).area / union) if union > 0 else 0.0


def _first_hit_upstream(pred: Sequence[int], truths: Sequence[Sequence[int]], threshold: float) -> bool:
    """rs_detection's inner loop: a hit at the first true box with IoU >= threshold. A box without 5 numbers raises
    inside upstream's bare `try`, which ends this prediction's search as a miss (a 4-number prediction is counted
    but never matches; a malformed true box stops the search at that box)."""
    if len(pred) != 5:
        return False
    for truth in truths:
        if len(truth) != 5:
            return False
        if rotated_iou(pred, truth) >= threshold:
            return True
    return False


def match_one_to_one(preds: Sequence[Sequence[float]], truths: Sequence[Sequence[float]], threshold: float) -> int:
    """Predicted boxes matched one-to-one (each true box claimed at most once) with IoU >= threshold: each
    prediction in order takes the free true box of highest IoU. The strict protocol's matching.

    >>> match_one_to_one([[0, 0, 10, 10, 0], [0, 0, 10, 10, 0]], [[0, 0, 10, 10, 0]], 0.5)  # a duplicate misses
    1
    """
    free = [list(t) for t in truths if len(t) == 5]
    matched = 0
    for pred in preds:
        if len(pred) != 5 or not free:
            continue
        ious = [rotated_iou(pred, truth) for truth in free]
        best = max(range(len(ious)), key=ious.__getitem__)
        if ious[best] >= threshold:
            matched += 1
            free.pop(best)
    return matched


def strict_box_counts(prediction: str, truth: str, threshold: float) -> tuple[int, int]:
    """(hits, predicted boxes) of one row under the strict protocol of every box metric: lenient parsing, the angle
    kept, one-to-one matching, and a prediction without a box counts as one miss.

    >>> strict_box_counts("no box", "[[0, 0, 10, 10, 0]]", 0.5)
    (0, 1)
    """
    preds = parse_rotated_boxes(prediction)
    return match_one_to_one(preds, parse_rotated_boxes(truth), threshold), max(1, len(preds))


# --------------------------------------------------------------------------------------------------------------
# Tokenizer and WordNet


def _nltk_path() -> None:
    import nltk

    # The project's WordNet (scripts/build_nltk_data.py) is searched after NLTK's own locations, so a cluster's
    # NLTK data (NLTK_DATA, ~/nltk_data, ...) wins when present.
    if PROJECT_NLTK_DATA.is_dir() and str(PROJECT_NLTK_DATA) not in nltk.data.path:
        nltk.data.path.append(str(PROJECT_NLTK_DATA))


@functools.lru_cache(maxsize=1)
def _has_punkt_tab() -> bool:
    import nltk

    _nltk_path()
    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
    except LookupError:
        return False
    return True


@functools.lru_cache(maxsize=1)
def _fallback_tokenizers() -> tuple[Any, Any]:
    from nltk.tokenize import NLTKWordTokenizer
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    return PunktSentenceTokenizer(), NLTKWordTokenizer()


def word_tokenize(text: str) -> list[str]:
    """NLTK's `word_tokenize`; without `punkt_tab`, the same pipeline with an untrained Punkt sentence splitter.

    >>> word_tokenize("There is a plane, parked .")
    ['There', 'is', 'a', 'plane', ',', 'parked', '.']
    """
    if _has_punkt_tab():
        import nltk

        return nltk.word_tokenize(text)
    sentences, words = _fallback_tokenizers()
    return [token for sentence in sentences.tokenize(text) for token in words.tokenize(sentence)]


@functools.lru_cache(maxsize=1)
def _wordnet() -> Any:
    _nltk_path()
    from nltk.corpus import wordnet

    try:
        wordnet.ensure_loaded()
    except LookupError as exc:
        raise RuntimeError(
            "NLTK's METEOR needs WordNet: install the Debian packages wordnet-base and wordnet-sense-index "
            "(scripts/install_system_deps.sh) and run `python scripts/build_nltk_data.py --out .nltk_data` "
            "(make install does both), or point NLTK_DATA at an NLTK data folder with corpora/wordnet"
        ) from exc
    return wordnet


def text_tools() -> dict[str, str | None]:
    """Which tokenizer and WordNet the text metrics use (recorded in metrics.json). WordNet is None when absent."""
    tokenizer = "nltk punkt_tab" if _has_punkt_tab() else "untrained PunktSentenceTokenizer + NLTKWordTokenizer"
    try:
        wordnet = _wordnet()
    except RuntimeError:
        return {"tokenizer": tokenizer, "wordnet": None, "wordnet_root": None}
    return {"tokenizer": tokenizer, "wordnet": wordnet.get_version(), "wordnet_root": str(wordnet.root)}


# --------------------------------------------------------------------------------------------------------------
# Per-sample text metrics


def token_recall(reference: str, candidate: str) -> float:
    """EarthDial's classification / VQA score (EARTHDIAL.md 3.1): strip, lower-case and remove every space, then
    |set(ref tokens) & set(candidate tokens)| / len(ref tokens), 0 when nothing is shared.

    >>> token_recall("Medium Residential", "medium residential")
    1.0
    >>> token_recall("airport", "Airport, Port")  # naming several classes is rewarded
    1.0
    >>> token_recall("Betula spec", "Betula spec.")
    1.0
    >>> token_recall("Betula spec.", "Betula spec")
    0.5
    """
    ref_tokens = word_tokenize(reference.strip().lower().replace(" ", ""))
    common = set(ref_tokens) & set(word_tokenize(candidate.strip().lower().replace(" ", "")))
    return len(common) / len(ref_tokens) if common else 0.0


@functools.lru_cache(maxsize=2)
def _rouge(types: tuple[str, ...]) -> Any:
    from rouge_score.rouge_scorer import RougeScorer

    return RougeScorer(list(types), use_stemmer=True)


def rouge_prf(reference: str, candidate: str) -> dict[str, float]:
    """ROUGE-1 and ROUGE-L precision, recall and F of the raw strings, as EarthDial's region-captioning and
    grounding-description scorers call rouge-score (`RougeScorer(['rouge1', 'rougeL'], use_stemmer=True)`).

    >>> rouge_prf("1 gray medium airplane at the top left", "1 airplane at the top left")["rouge1_f"]
    0.8571428571428571
    """
    scores = _rouge(("rouge1", "rougeL")).score(reference, candidate)
    out = {}
    for name, key in (("rouge1", "rouge1"), ("rougeL", "rougeL")):
        out[f"{name}_precision"] = float(scores[key].precision)
        out[f"{name}_recall"] = float(scores[key].recall)
        out[f"{name}_f"] = float(scores[key].fmeasure)
    return out


def rouge_multi(candidate: str, references: Sequence[str]) -> tuple[float, float]:
    """(ROUGE-1 F, ROUGE-L F) averaged over the references, both strings first joined from `word_tokenize`
    tokens (EarthDial's image and change captioning, EARTHDIAL.md 3.5 / 3.6; an empty reference scores 0).

    >>> rouge_multi("a plane on the runway", ["a plane on the runway", ""])
    (0.5, 0.5)
    """
    if not references:
        raise ValueError("rouge_multi: at least one reference is needed")
    scorer = _rouge(("rouge1", "rougeL"))
    hypothesis = " ".join(word_tokenize(candidate))
    r1 = rl = 0.0
    for reference in references:
        scores = scorer.score(" ".join(word_tokenize(reference)), hypothesis)
        r1 += scores["rouge1"].fmeasure
        rl += scores["rougeL"].fmeasure
    return r1 / len(references), rl / len(references)


def meteor_tokens(references: Sequence[Sequence[str]], hypothesis: Sequence[str]) -> float:
    """NLTK METEOR (defaults: lower-case, Porter stemmer, WordNet synonyms, alpha 0.9, beta 3, gamma 0.5), the max
    over the references, on pre-tokenised text."""
    from nltk.translate.meteor_score import meteor_score

    return float(meteor_score([list(r) for r in references], list(hypothesis), wordnet=_wordnet()))


def meteor_multi(candidate: str, references: Sequence[str]) -> float:
    """METEOR on `word_tokenize` tokens against every reference (image / change captioning, EARTHDIAL.md 3.5)."""
    return meteor_tokens([word_tokenize(r) for r in references], word_tokenize(candidate))


def meteor_whitespace(reference: str, candidate: str) -> float:
    """METEOR on whitespace tokens against one reference (region captioning, grounding description, 3.4 / 3.7)."""
    return meteor_tokens([reference.split()], candidate.split())


_REF_TAG_RE = re.compile(r"</?ref>")
_BOX_MARKUP_RE = re.compile(r"<box>\[\[.*?\]\]</box>|\[\[.*?\]\]")


def clean_description(text: str) -> str:
    """A grounding description without `<ref>` tags and boxes (`<box>[[..]]</box>` or bare `[[..]]`, non-greedy);
    spaces are not collapsed, as upstream (EARTHDIAL.md 3.7).

    >>> clean_description("there is <ref>1 car</ref> <box>[[[1, 2, 3, 4, 0]]]</box> at left")
    'there is 1 car  at left'
    """
    return _BOX_MARKUP_RE.sub("", _REF_TAG_RE.sub("", text))


# --------------------------------------------------------------------------------------------------------------
# Aggregates (paper protocol); inputs are per-row tuples, outputs fractions in [0, 1]

REFER_SIZE_GROUPS = ("small", "medium", "large")
REFER_GROUPS = (*REFER_SIZE_GROUPS, "single", "multiple")
GROUNDING_BOX_CAP = 50  # rows with this many true boxes or more are skipped by the grounding scorer
VQA_TYPES = {"presence": "presence", "comp": "comparison", "rural_urban": "rural_urban"}  # data type -> metric


def mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def refer_precision(
    rows: Iterable[tuple[str, str, str]], *, threshold: float = 0.5, strict: bool = False
) -> dict[str, float | int]:
    """Referring detection over `(prediction, truth box string, size_group)` rows (EARTHDIAL.md 3.3).

    Paper: every box `parse_refer_boxes` finds in a prediction adds 1 to the denominators of its row's groups
    (`size_group` and single / multiple by the number of parsed true boxes, 0 counting as multiple) and is a hit
    when its rotated IoU is >= threshold with any true box (duplicates all count). Strict: `parse_rotated_boxes` on
    both sides, hits matched one-to-one, and a prediction with no box costs one miss. A group without hits is 0.
    Returns `acc@<t>_<group>` and `count_<group>` (the denominators). An unknown size_group raises ValueError
    (upstream: KeyError).

    >>> r = refer_precision([("[[0, 0, 10, 10, 0]][[0, 0, 10, 10, 0]]", "[[0, 0, 10, 10, 0]]", "small")])
    >>> r["acc@0.5_small"], r["count_single"]
    (1.0, 2)
    """
    hits = dict.fromkeys(REFER_GROUPS, 0)
    totals = dict.fromkeys(REFER_GROUPS, 0)
    for index, (prediction, truth, size_group) in enumerate(rows):
        if size_group not in REFER_SIZE_GROUPS:
            raise ValueError(f"row {index}: size_group must be one of {REFER_SIZE_GROUPS}, got {size_group!r}")
        if strict:
            truths = parse_rotated_boxes(truth)  # also counted below: single / multiple
            hit, total = strict_box_counts(prediction, truth, threshold)
        else:
            preds, truths = parse_refer_boxes(prediction), parse_refer_boxes(truth)
            hit, total = sum(_first_hit_upstream(p, truths, threshold) for p in preds), len(preds)
        for group in (size_group, "single" if len(truths) == 1 else "multiple"):
            hits[group] += hit
            totals[group] += total
    key = f"acc@{threshold:g}"
    result: dict[str, float | int] = {f"{key}_{g}": (hits[g] / totals[g] if hits[g] else 0.0) for g in REFER_GROUPS}
    result.update({f"count_{g}": totals[g] for g in REFER_GROUPS})
    return result


# One row's (hits, boxes, malformed) for xbd_precision / (hits, boxes, kept) for grounding_precision. Cached because the
# bootstrap (eval.intervals) rescores the same rows a thousand times: the pooled ratio is then a sum over cached
# counts instead of rotated-polygon IoUs (3.4 s per rescoring of 240 rows before). Pure, so caching changes no value.
@functools.lru_cache(maxsize=1 << 16)
def _xbd_row(prediction: str, truth: str, threshold: float, strict: bool) -> tuple[int, int, int]:
    if strict:
        hit, boxes = strict_box_counts(prediction, truth, threshold)
        return hit, boxes, 0
    hits = total = malformed = 0
    truths = parse_xbd_boxes(truth)
    for pred in parse_xbd_boxes(prediction):
        total += 1
        if len(pred) != 5:
            malformed += 1
            continue
        zeroed = [*pred[:4], 0]
        hits += any(len(t) == 5 and rotated_iou(zeroed, t) >= threshold for t in truths)
    return hits, total, malformed


@functools.lru_cache(maxsize=1 << 16)
def _grounding_row(prediction: str, truth: str, threshold: float, strict: bool) -> tuple[int, int, int]:
    if strict:
        hit, boxes = strict_box_counts(prediction, truth, threshold)
        return hit, boxes, 1
    truths = parse_grounding_boxes(truth)
    if len(truths) >= GROUNDING_BOX_CAP:
        return 0, 0, 0
    preds = parse_grounding_boxes(prediction)
    return sum(any(rotated_iou(p, t) >= threshold for t in truths) for p in preds), len(preds), 1


def xbd_precision(rows: Iterable[tuple[str, str]], *, threshold: float, strict: bool = False) -> dict[str, float | int]:
    """xBD detection over `(prediction, truth box string)` rows (EARTHDIAL.md 3.8): pooled hits / predicted boxes.

    Paper: `parse_xbd_boxes`, each predicted box's last number set to 0 (the angle), a hit at IoU >= threshold with
    any true box. Upstream crashes on a box without 5 numbers and on a file without predicted boxes; here such a box
    is a counted miss (`malformed`) and an empty file gives 0. Strict: lenient parsing, angle kept, one-to-one
    matching, a prediction without a box costs one miss.

    >>> xbd_precision([("[[0, 0, 10, 10, 45]]", "[[0, 0, 10, 10, 0]]")], threshold=0.5)["precision@0.5"]
    1.0
    """
    hits = total = malformed = 0
    for prediction, truth in rows:
        row_hits, row_total, row_malformed = _xbd_row(prediction, truth, threshold, strict)
        hits, total, malformed = hits + row_hits, total + row_total, malformed + row_malformed
    return {f"precision@{threshold:g}": hits / total if total else 0.0, "boxes": total, "malformed": malformed}


def grounding_precision(
    rows: Iterable[tuple[str, str]], *, threshold: float, strict: bool = False
) -> dict[str, float | int | None]:
    """Grounding P@t over `(prediction, obj_ids)` rows (EARTHDIAL.md 3.7): rows with >= 50 true boxes skipped; hits
    (IoU >= t with any true box) / predicted boxes of the kept rows. Paper: `parse_grounding_boxes`, and the value
    is None (upstream prints nothing) unless more than one box matched. Strict: lenient parsing, every row, one-to-one
    matching, a value always.

    >>> grounding_precision([("[[0, 0, 10, 10, 0]]", '["[[0, 0, 10, 10, 0]]"]')], threshold=0.5)["precision@0.5"] is None
    True
    """
    hits = total = kept = 0
    for prediction, truth in rows:
        row_hits, row_total, row_kept = _grounding_row(prediction, truth, threshold, strict)
        hits, total, kept = hits + row_hits, total + row_total, kept + row_kept
    key = f"precision@{threshold:g}"
    if strict:
        value: float | None = hits / total if total else 0.0
    else:
        value = hits / total if hits > 1 else None
    return {key: value, f"matched@{threshold:g}": hits, f"boxes@{threshold:g}": total, "kept_rows": kept}


def vqa_scores(rows: Iterable[tuple[str, str, str]], score: Callable[[str, str], float]) -> dict[str, float | int]:
    """RSVQA over `(reference, candidate, vqa_type)` rows (EARTHDIAL.md 3.2): `score(reference, candidate)` averaged
    per scored type (presence, comp -> comparison, rural_urban; count and area ignored; a type without rows is 0),
    and `average`, the sample-weighted mean over the scored types (the papers' Avg).

    >>> vqa_scores([("yes", "yes", "presence"), ("no", "yes", "comp"), ("3", "3", "count")], token_recall)["average"]
    0.5
    """
    sums = dict.fromkeys(VQA_TYPES.values(), 0.0)
    counts = dict.fromkeys(VQA_TYPES.values(), 0)
    for reference, candidate, vqa_type in rows:
        name = VQA_TYPES.get(vqa_type)
        if name is not None:
            sums[name] += score(reference, candidate)
            counts[name] += 1
    result: dict[str, float | int] = {name: (sums[name] / counts[name] if counts[name] else 0.0) for name in sums}
    total = sum(counts.values())
    result["average"] = sum(sums.values()) / total if total else 0.0
    result.update({f"count_{name}": n for name, n in counts.items()})
    return result
