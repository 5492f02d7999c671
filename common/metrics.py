"""Per-sample metrics shared by the evaluation scorers and the GRPO rewards (SPEC 5, 6.3); every value is in [0, 1].

Pure functions over already-extracted answers (see `common.parsing`). The text metrics use the reference packages
(rouge-score for ROUGE, pycocoevalcap's METEOR 1.5 jar), imported on first use so that importing this module stays
cheap for callers that only need the box or label metrics.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from common.parsing import Box, box_iou, first_number, normalise_label, split_labels

if TYPE_CHECKING:
    from pycocoevalcap.meteor.meteor import Meteor
    from rouge_score.rouge_scorer import RougeScorer


def exact_match(pred: str, gt: str) -> float:
    """1.0 when both labels are equal after `normalise_label`, else 0.0.

    >>> exact_match(" Dense Residential. ", "dense residential")
    1.0
    """
    return float(normalise_label(pred) == normalise_label(gt))


def _label_set(labels: str | Iterable[str]) -> set[str]:
    if isinstance(labels, str):
        return set(split_labels(labels))
    return {label for label in (normalise_label(item) for item in labels) if label}


def multilabel_f1(pred: str | Iterable[str], gt: str | Iterable[str]) -> float:
    """F1 between the predicted and true label sets (multi-label classification, e.g. BigEarthNet).

    Labels are compared after `normalise_label`; duplicates and empty labels are dropped; a string is split with
    `split_labels` first ("forest, river"). F1 = 2|P & G| / (|P| + |G|). When both sets are empty the prediction
    is exactly right, so the score is 1.0; when only one is empty it is 0.0.

    >>> multilabel_f1(["Forest", "river"], {"forest", "pasture"})
    0.5
    >>> multilabel_f1([], [])
    1.0
    """
    p, g = _label_set(pred), _label_set(gt)
    if not p and not g:
        return 1.0
    return 2 * len(p & g) / (len(p) + len(g))


def count_match(pred_text: str, gt: int | str) -> float:
    """1.0 when the first number in `pred_text` equals the true count (an int, or the first number of a string).

    >>> count_match("I count 3 planes.", 3)
    1.0
    >>> count_match("three", "3")
    0.0
    """
    predicted = first_number(pred_text)
    expected = first_number(gt) if isinstance(gt, str) else float(gt)
    return float(predicted is not None and expected is not None and predicted == expected)


def average_precision(pred: Sequence[Box], gt: Sequence[Box], iou_threshold: float = 0.5) -> float:
    """Average precision of one image's predicted boxes against its true boxes (detection mAP, SPEC 5 and 6.3).

    VLM outputs carry no confidence, so the predictions are ranked in the order given. Matching is greedy in that
    order: each prediction takes the still unmatched true box with the highest IoU, and is a true positive when that
    IoU is >= `iou_threshold` (each true box is matched at most once; duplicates are false positives). AP is the
    VOC 2010+ all-point interpolated area under the precision-recall curve. With no true boxes the image is perfect
    (1.0) when there are no predictions either and 0.0 otherwise; with no predictions and some true boxes, 0.0.

    >>> average_precision([(0, 0, 10, 10), (50, 50, 60, 60)], [(0, 0, 10, 10)])
    1.0
    >>> average_precision([(50, 50, 60, 60), (0, 0, 10, 10)], [(0, 0, 10, 10)])
    0.5
    """
    if not gt:
        return float(not pred)
    matched = [False] * len(gt)
    true_positives = 0
    precisions: list[float] = []
    recalls: list[float] = []
    for rank, box in enumerate(pred, start=1):
        best_iou, best = 0.0, -1
        for index, truth in enumerate(gt):
            if not matched[index]:
                iou = box_iou(box, truth)
                if iou > best_iou:
                    best_iou, best = iou, index
        if best >= 0 and best_iou >= iou_threshold:
            matched[best] = True
            true_positives += 1
        precisions.append(true_positives / rank)
        recalls.append(true_positives / len(gt))
    # All-point interpolation: precision at recall r is the best precision at any recall >= r.
    ap, previous_recall, best_after = 0.0, 0.0, 0.0
    envelope = [0.0] * len(precisions)
    for i in range(len(precisions) - 1, -1, -1):
        best_after = max(best_after, precisions[i])
        envelope[i] = best_after
    for recall, precision in zip(recalls, envelope):
        ap += (recall - previous_recall) * precision
        previous_recall = recall
    return min(1.0, ap)


def matched_ious(pred: Sequence[Box], gt: Sequence[Box]) -> list[float]:
    """IoU of each true box with its own predicted box, one-to-one (referring detection, SPEC 5 and 6.3).

    The true boxes are taken in order; each takes the still unmatched prediction with the highest IoU (the first
    one on ties) and scores that IoU; a true box that overlaps no unmatched prediction scores 0.0 and takes none.
    The one matching of referring detection: the GeoVLM acc@t metric (`eval.tasks.geovlm.all_matched`: every
    value >= t) and the referring_iou reward (their mean) read the same pairs.

    >>> matched_ious([(0, 0, 10, 10), (20, 0, 30, 10)], [(20, 0, 30, 10), (0, 0, 10, 20)])
    [1.0, 0.5]
    >>> matched_ious([], [(0, 0, 10, 10)])
    [0.0]
    """
    free = list(pred)
    values: list[float] = []
    for truth in gt:
        ious = [box_iou(box, truth) for box in free]
        best = max(range(len(ious)), key=ious.__getitem__, default=None)
        if best is None or ious[best] <= 0.0:
            values.append(0.0)
            continue
        values.append(ious[best])
        free.pop(best)
    return values


@functools.lru_cache(maxsize=2)
def _rouge_scorer(rouge_type: str) -> RougeScorer:
    from rouge_score.rouge_scorer import RougeScorer

    # Porter stemming, as in the ROUGE reference script's -m option and most captioning reports, so that
    # "planes"/"plane" and "parked"/"park" match; rouge-score's tokenizer keeps only [a-z0-9] tokens.
    return RougeScorer([rouge_type], use_stemmer=True)


def rouge_l(pred: str, ref: str) -> float:
    """ROUGE-L F-measure (longest common subsequence) of a prediction against one reference, via rouge-score.

    >>> rouge_l("a plane is parked on the apron", "a plane parked on the apron")
    0.923076923076923
    """
    return float(_rouge_scorer("rougeL").score(ref, pred)["rougeL"].fmeasure)


def rouge_1(pred: str, ref: str) -> float:
    """ROUGE-1 F-measure (unigram overlap) of a prediction against one reference, via rouge-score.

    >>> rouge_1("two planes", "two white planes")
    0.8
    """
    return float(_rouge_scorer("rouge1").score(ref, pred)["rouge1"].fmeasure)


@functools.lru_cache(maxsize=1)
def _meteor_scorer() -> Meteor:
    from pycocoevalcap.meteor.meteor import Meteor

    # One JVM per process (start-up costs seconds); pycocoevalcap guards it with a lock and stops it at exit.
    return Meteor()


def _discard_meteor_scorer() -> None:
    """Drop a JVM that failed mid-call. pycocoevalcap holds its lock across the whole exchange and never releases it
    when the pipe breaks (a JVM killed by the OOM killer, say), so every later call, and its own __del__ at exit,
    would wait forever on that lock: release it, kill the process, and let the next call start a new JVM."""
    if _meteor_scorer.cache_info().currsize == 0:
        return
    scorer = _meteor_scorer()
    _meteor_scorer.cache_clear()
    if scorer.lock.locked():
        scorer.lock.release()
    scorer.meteor_p.kill()
    scorer.meteor_p.wait()


# The jar's alignment search grows steeply with repeated tokens (measured: 300 tokens of "<answer>" repeated take
# ~5 s, 1500 take ~60 s and then the JVM dies), so a line is cut at this many tokens. Captions are far shorter
# (EarthDial asks for at most 100 new tokens); a completion that runs on is scored on its first 200 tokens.
METEOR_MAX_TOKENS = 200
_METEOR_TOKEN_RE = re.compile(r"\w+|[^\w\s]")


def _meteor_line(text: str) -> str:
    # The jar reads one line per request with "|||" as field separator: a newline or "|||" inside a caption would
    # desynchronise the pipe and hang the call, so both become spaces (METEOR's -norm tokenises anyway).
    text = " ".join(text.replace("|||", " ").split())
    tokens = list(itertools.islice(_METEOR_TOKEN_RE.finditer(text), METEOR_MAX_TOKENS + 1))
    return text if len(tokens) <= METEOR_MAX_TOKENS else text[: tokens[-1].start()].rstrip()


def meteor(preds: Sequence[str], refs: Sequence[str | Sequence[str]]) -> list[float]:
    """METEOR 1.5 score of each prediction against its reference(s), one JVM call for the whole batch.

    `refs[i]` is one reference string or a list of references for `preds[i]`. Uses pycocoevalcap's wrapper of the
    official jar (English, -norm), the COCO caption evaluation's METEOR; needs `java` on PATH. Texts longer than
    METEOR_MAX_TOKENS tokens are cut there. A JVM that dies mid-call is replaced and the batch retried once; a
    second failure raises RuntimeError (never a hang).
    """
    if len(preds) != len(refs):
        raise ValueError(f"meteor: {len(preds)} predictions but {len(refs)} references")
    if not preds:
        return []
    references = {i: [_meteor_line(r) for r in ([ref] if isinstance(ref, str) else ref)] for i, ref in enumerate(refs)}
    if any(not group for group in references.values()):
        raise ValueError("meteor: every prediction needs at least one reference")
    hypotheses = {i: [_meteor_line(pred)] for i, pred in enumerate(preds)}
    for attempt in (1, 2):
        scorer = _meteor_scorer()
        if scorer.meteor_p.poll() is not None:  # the JVM exited between calls
            _discard_meteor_scorer()
            scorer = _meteor_scorer()
        try:
            _, scores = scorer.compute_score(references, hypotheses)
            break
        except (OSError, ValueError) as error:  # broken pipe, or an empty line where a score was due
            _discard_meteor_scorer()
            if attempt == 2:
                raise RuntimeError(
                    f"meteor: the METEOR jar failed twice on a batch of {len(preds)} ({error})"
                ) from None
    return [float(score) for score in scores]
