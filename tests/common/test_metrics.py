"""Table-driven tests for common.metrics: per-sample metrics shared by scorers and rewards (SPEC 5, 6.3)."""

import doctest
import shutil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common import metrics
from common.metrics import (
    average_precision,
    count_match,
    exact_match,
    matched_ious,
    meteor,
    multilabel_f1,
    rouge_1,
    rouge_l,
)


def test_docstring_examples():
    result = doctest.testmod(metrics)
    assert result.attempted >= 9
    assert result.failed == 0


EXACT_CASES = [
    # (pred, gt, expected)
    ("Airport", "airport", 1.0),  # case
    (' "Dense  Residential." ', "dense residential", 1.0),  # quotes, spaces, period
    ("airport terminal", "airport", 0.0),  # extra word: strict, unlike the paper's substring protocol
    ("", "airport", 0.0),  # empty prediction is wrong (the paper protocol counts it right)
    ("", "", 1.0),  # both empty
]


@pytest.mark.parametrize("pred, gt, expected", EXACT_CASES)
def test_exact_match(pred, gt, expected):
    assert exact_match(pred, gt) == expected


F1_CASES = [
    # (pred, gt, expected)
    (["forest", "river"], ["forest", "river"], 1.0),  # identical
    (["Forest", "river"], {"forest", "pasture"}, 0.5),  # one of two right on each side: P = R = 1/2
    (["forest"], ["forest", "river", "pasture"], 0.5),  # P = 1, R = 1/3 -> 2/4
    (["urban"], ["forest"], 0.0),  # disjoint
    ([], [], 1.0),  # nothing to predict, nothing predicted
    ([], ["forest"], 0.0),  # missed everything
    (["forest"], [], 0.0),  # predicted something where there is nothing
    (["forest", "Forest.", "forest"], ["forest"], 1.0),  # duplicates after normalisation collapse
    (["", "  "], [], 1.0),  # empty labels are dropped
    ("Forest, river and pasture", ["forest", "river", "pasture"], 1.0),  # a string is split first
    ("forest; urban", "forest, river", 0.5),  # strings on both sides
]


@pytest.mark.parametrize("pred, gt, expected", F1_CASES)
def test_multilabel_f1(pred, gt, expected):
    assert multilabel_f1(pred, gt) == pytest.approx(expected)


COUNT_CASES = [
    # (pred_text, gt, expected)
    ("3", 3, 1.0),  # plain
    ("There are 3 planes.", "3", 1.0),  # first number of the prediction; gt as a string
    ("There are 3 planes.", "4", 0.0),  # wrong count
    ("3.0", 3, 1.0),  # numeric equality, not string equality
    ("12 planes in 3 rows", 3, 0.0),  # only the first number counts
    ("three", 3, 0.0),  # number words are not parsed
    ("5", "five", 0.0),  # unparseable ground truth never matches
    ("", 0, 0.0),  # no number
]


@pytest.mark.parametrize("pred_text, gt, expected", COUNT_CASES)
def test_count_match(pred_text, gt, expected):
    assert count_match(pred_text, gt) == expected


A = (0, 0, 10, 10)
B = (20, 20, 30, 30)
C = (40, 40, 50, 50)
MISS = (100, 100, 110, 110)

AP_CASES = [
    # (pred, gt, iou_threshold, expected)
    ([A], [A], 0.5, 1.0),  # one right box
    ([A, B], [A, B], 0.5, 1.0),  # all right, any order
    ([MISS, A], [A], 0.5, 0.5),  # right box ranked second: precision 1/2 at recall 1
    ([A, MISS], [A], 0.5, 1.0),  # a false positive after full recall costs nothing in AP
    ([A, MISS, B], [A, B], 0.5, 0.5 * 1.0 + 0.5 * (2 / 3)),  # recall 1/2 at P 1, recall 1 at P 2/3
    ([MISS, A, MISS, B], [A, B, C], 0.5, (1 / 3) * 0.5 + (1 / 3) * 0.5),  # interpolated envelope, C never found
    ([A, A], [A], 0.5, 1.0),  # duplicate is a false positive after full recall
    ([(0, 0, 10, 6)], [A], 0.5, 1.0),  # IoU 0.6 >= 0.5
    ([(0, 0, 10, 4)], [A], 0.5, 0.0),  # IoU 0.4 < 0.5
    ([(0, 0, 10, 4)], [A], 0.25, 1.0),  # ...but a hit at mAP@0.25 (GeoVLM-R1 reports both)
    ([(0, 0, 10, 5)], [A], 0.5, 1.0),  # IoU exactly at the threshold counts
    ([], [A], 0.5, 0.0),  # nothing predicted
    ([], [], 0.5, 1.0),  # empty image, nothing predicted: perfect
    ([A], [], 0.5, 0.0),  # empty image, something predicted
    ([(10, 10, 0, 0)], [A], 0.5, 0.0),  # degenerate prediction never matches
]


@pytest.mark.parametrize("pred, gt, iou_threshold, expected", AP_CASES)
def test_average_precision(pred, gt, iou_threshold, expected):
    assert average_precision(pred, gt, iou_threshold) == pytest.approx(expected)


def test_average_precision_matches_best_unmatched_truth():
    # The prediction overlaps both truths; it takes the better one (IoU 0.6 with T2, 0.4 with T1), leaving T1 for
    # the next prediction. Matching the first truth above the threshold instead would make the second a miss.
    t1, t2 = (0, 0, 10, 10), (4, 0, 14, 10)
    first, second = (6, 0, 16, 10), (0, 0, 10, 10)
    # IoU(first, t1) = 4/16 = 0.25, IoU(first, t2) = 8/12; IoU(second, t1) = 1.
    assert average_precision([first, second], [t1, t2]) == 1.0


MATCHED_CASES = [
    # (pred, gt, expected)
    ([(0, 0, 10, 10)], [(0, 0, 10, 20)], [0.5]),
    ([], [(0, 0, 10, 10)], [0.0]),  # nothing predicted
    ([(0, 0, 10, 10)], [], []),  # no true boxes
    ([(20, 0, 30, 10)], [(0, 0, 10, 10)], [0.0]),  # disjoint
    # Each true box, in order, takes the free prediction with the best IoU; a taken box cannot serve twice.
    ([(0, 0, 10, 10)], [(0, 0, 10, 10), (0, 0, 10, 10)], [1.0, 0.0]),
    ([(20, 0, 30, 10), (0, 0, 10, 10)], [(0, 0, 10, 10), (20, 0, 30, 20)], [1.0, 0.5]),
    # A truth that overlaps no free box takes none: the disjoint box stays for a later truth.
    ([(50, 50, 60, 60)], [(0, 0, 10, 10), (50, 50, 60, 60)], [0.0, 1.0]),
]


@pytest.mark.parametrize("pred, gt, expected", MATCHED_CASES)
def test_matched_ious(pred, gt, expected):
    assert matched_ious(pred, gt) == pytest.approx(expected)


ROUGE_CASES = [
    # (pred, ref, rouge_1, rouge_l)
    ("a plane on the runway", "a plane on the runway", 1.0, 1.0),  # identical
    ("two planes", "two white planes", 0.8, 0.8),  # P = 1, R = 2/3
    ("Planes parked.", "plane park", 1.0, 1.0),  # Porter stemming, punctuation and case ignored
    ("runway the on plane a", "a plane on the runway", 1.0, 0.2),  # same words, LCS of one
    ("harbour", "a plane on the runway", 0.0, 0.0),  # no overlap
    ("", "a plane", 0.0, 0.0),  # empty prediction
    ("日本 語", "日本 語", 0.0, 0.0),  # rouge-score keeps only [a-z0-9] tokens: non-Latin text scores 0
]


@pytest.mark.parametrize("pred, ref, expected_1, expected_l", ROUGE_CASES)
def test_rouge(pred, ref, expected_1, expected_l):
    assert rouge_1(pred, ref) == pytest.approx(expected_1)
    assert rouge_l(pred, ref) == pytest.approx(expected_l)


boxes = st.lists(st.tuples(*[st.integers(-5, 60)] * 4), max_size=6)


@given(pred=boxes, gt=boxes, threshold=st.sampled_from([0.25, 0.5, 0.75]))
@settings(max_examples=300, deadline=None)
def test_average_precision_stays_in_unit_interval(pred, gt, threshold):
    value = average_precision(pred, gt, threshold)
    assert isinstance(value, float) and 0.0 <= value <= 1.0


labels = st.lists(st.sampled_from(["forest", "Forest.", "river", "", "urban area", "  "]), max_size=5)


@given(pred=st.one_of(labels, st.text(max_size=40)), gt=st.one_of(labels, st.text(max_size=40)))
@settings(max_examples=300, deadline=None)
def test_label_metrics_stay_in_unit_interval(pred, gt):
    value = multilabel_f1(pred, gt)
    assert isinstance(value, float) and 0.0 <= value <= 1.0
    if isinstance(pred, str) and isinstance(gt, str):
        assert exact_match(pred, gt) in (0.0, 1.0)
        assert count_match(pred, gt) in (0.0, 1.0)


@given(pred=st.text(max_size=60), ref=st.text(max_size=60))
@settings(max_examples=150, deadline=None)
def test_rouge_stays_in_unit_interval(pred, ref):
    for value in (rouge_1(pred, ref), rouge_l(pred, ref)):
        assert isinstance(value, float) and 0.0 <= value <= 1.0


def test_meteor_validates_lengths_without_starting_java():
    assert meteor([], []) == []
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        meteor(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="at least one reference"):
        meteor(["a"], [[]])


@pytest.mark.slow  # starts a JVM (~5-10 s)
@pytest.mark.skipif(shutil.which("java") is None, reason="METEOR needs java on PATH")
def test_meteor_batch():
    preds = [
        "a plane on the runway",  # identical
        "",  # empty prediction
        "planes parked\nnear ||| the terminal",  # newline and the jar's field separator must not break the pipe
        "a harbour with boats",  # unrelated
        "two planes",  # partial, against two references (the better one counts)
    ]
    refs = [
        "a plane on the runway",
        "a plane on the runway",
        "planes parked near the terminal",
        "a plane on the runway",
        ["a harbour", "two white planes"],
    ]
    scores = meteor(preds, refs)
    assert len(scores) == len(preds)
    assert all(isinstance(s, float) and 0.0 <= s <= 1.0 for s in scores)
    assert scores[0] == pytest.approx(1.0)
    assert scores[1] == 0.0
    assert scores[2] == pytest.approx(1.0)  # same words once the separators are spaces
    assert 0.0 < scores[3] < 0.1  # only "a" in common
    # Several references: METEOR keeps the best one. A second batch reuses the JVM and stays in step with it.
    single = meteor(["two planes", "two planes"], ["two white planes", "a harbour"])
    assert single[1] == 0.0
    assert 0.2 < single[0] < 0.3  # 2 of 3 words, with METEOR's fragmentation penalty on such short strings
    assert scores[4] == pytest.approx(single[0])


def test_meteor_lines_are_cut_at_the_token_cap():
    from common.metrics import METEOR_MAX_TOKENS, _meteor_line

    assert METEOR_MAX_TOKENS == 200
    # "<", "answer", ">" are three tokens: the 201st token (a ">") and everything after it go.
    assert _meteor_line("<answer>" * 2000) == "<answer>" * 66 + "<answer"
    assert _meteor_line("a  b|||c\nd") == "a b c d"  # separators and newlines cannot reach the jar's pipe


@pytest.mark.skipif(shutil.which("java") is None, reason="METEOR needs java on PATH")
def test_meteor_survives_a_dead_jvm():
    from common import metrics

    first = metrics.meteor(["two planes"], ["two white planes"])
    scorer = metrics._meteor_scorer()
    scorer.meteor_p.kill()  # died between calls (the OOM killer, say)
    scorer.meteor_p.wait()
    assert metrics.meteor(["two planes"], ["two white planes"]) == first
    metrics._meteor_scorer().meteor_p.stdin.close()  # the pipe breaks in the middle of the next call
    assert metrics.meteor(["two planes"], ["two white planes"]) == first
