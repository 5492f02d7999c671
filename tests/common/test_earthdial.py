"""EarthDial-Bench boxes and scorers (common.earthdial): every formula's edge cases, against hand-computed values.

Rows are hand-written in the upstream formats (EARTHDIAL.md 3.x); the values are what EarthDial's scripts print.
"""

from __future__ import annotations

import doctest
import math

import pytest

from common import earthdial as ed

HAS_WORDNET = ed.text_tools()["wordnet"] is not None
needs_wordnet = pytest.mark.skipif(
    not HAS_WORDNET, reason="WordNet absent: run make install (scripts/build_nltk_data.py)"
)


def test_doctests():
    result = doctest.testmod(ed)
    assert result.attempted >= 20 and result.failed == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # several boxes glued as upstream writes them
        ("[[18, 21, 22, 25, 90]][[18, 18, 22, 22, 90]]", [[18, 21, 22, 25, 90], [18, 18, 22, 22, 90]]),
        # the list-of-lists form models also answer
        ("[[1, 2, 3, 4, 5], [6, 7, 8, 9, 0]]", [[1, 2, 3, 4, 5], [6, 7, 8, 9, 0]]),
        # a negative number: the whole box disappears (GeoChat truths down to -3)
        ("[[-1, 5, 10, 20, 0]]", []),
        # a decimal: the box disappears too
        ("[[1.5, 5, 10, 20, 0]]", []),
        # a 4-number box is read (and later counted as a miss)
        ("[[1, 2, 3, 4]]", [[1, 2, 3, 4]]),
        # a space before a comma is not upstream's list syntax
        ("[[1 , 2, 3, 4, 5]]", []),
        # no box / empty answer
        ("", []),
        # a single bracketed number is a (malformed) box of length 1
        ("see [5]", [[5]]),
    ],
)
def test_parse_refer_boxes(text, expected):
    assert ed.parse_refer_boxes(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # five unsigned integers, in a list of lists
        ("[[80, 0, 88, 12, 90], [88, 0, 100, 12, 90]]", [(80, 0, 88, 12, 90), (88, 0, 100, 12, 90)]),
        # inside <box> markup with triple brackets (NWPU grounding truths)
        ("<box>[[[8, 33, 22, 40, 0]]]</box>", [(8, 33, 22, 40, 0)]),
        # 4 numbers, 6 numbers, negative: none is a grounding box
        ("[1, 2, 3, 4] [1, 2, 3, 4, 5, 6] [-1, 2, 3, 4, 5]", []),
    ],
)
def test_parse_grounding_boxes(text, expected):
    assert ed.parse_grounding_boxes(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # negative and decimal numbers are read leniently
        ("[[-3, 5, 10.5, 20, 0]]", [(-3.0, 5.0, 10.5, 20.0, 0.0)]),
        # spaces instead of commas, glued boxes
        ("[[1 2 3 4 45]][[5, 6, 7, 8, 0]]", [(1.0, 2.0, 3.0, 4.0, 45.0), (5.0, 6.0, 7.0, 8.0, 0.0)]),
        # 4-number boxes are not five-number boxes
        ("[1, 2, 3, 4]", []),
        # an overflowing digit run is dropped
        ("[[1, 2, 3, 4, " + "9" * 400 + "]]", []),
    ],
)
def test_parse_rotated_boxes(text, expected):
    assert ed.parse_rotated_boxes(text) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        # identical axis-aligned boxes
        ([0, 0, 10, 10, 0], [0, 0, 10, 10, 0], 1.0),
        # half overlap: 50 / 150
        ([0, 0, 10, 10, 0], [5, 0, 15, 10, 0], 1 / 3),
        # touching edges only
        ([0, 0, 10, 10, 0], [10, 0, 20, 10, 0], 0.0),
        # a square is unchanged by a 90-degree turn
        ([0, 0, 10, 10, 90], [0, 0, 10, 10, 0], 1.0),
        # a 10x2 bar turned by 90 degrees is the upright 2x10 bar about the same centre
        ([0, 0, 10, 2, 90], [4, -4, 6, 6, 0], 1.0),
        # a 45-degree square against the same square axis-aligned: octagon / (2 - octagon) with side 10
        ([0, 0, 10, 10, 45], [0, 0, 10, 10, 0], (200 * (math.sqrt(2) - 1)) / (200 - 200 * (math.sqrt(2) - 1))),
        # zero width: invalid polygon, IoU 0
        ([5, 0, 5, 10, 0], [0, 0, 10, 10, 0], 0.0),
        # an inverted box (x1 > x2) is still a valid rectangle
        ([10, 0, 0, 10, 0], [0, 0, 10, 10, 0], 1.0),
        # negative coordinates (GeoChat truths)
        ([-3, -3, 7, 7, 0], [0, 0, 10, 10, 0], 49 / 151),
    ],
)
def test_rotated_iou(a, b, expected):
    assert ed.rotated_iou(a, b) == pytest.approx(expected, abs=1e-9)


def test_rotated_iou_needs_five_numbers():
    with pytest.raises(ValueError, match="needs 5 numbers"):
        ed.rotated_iou([0, 0, 10, 10], [0, 0, 10, 10, 0])


@pytest.mark.parametrize(
    ("reference", "candidate", "expected"),
    [
        # spaces removed: a multi-word label is one token, case ignored
        ("Medium Residential", "medium residential", 1.0),
        # an empty answer scores 0
        ("airport", "", 0.0),
        # naming several classes is rewarded
        ("airport", "Airport, Port", 1.0),
        # a verbose answer becomes one token and scores 0
        ("airport", "the answer is airport", 0.0),
        # punctuation splits off: the reference's "." is a second token
        ("Betula spec.", "Betula spec", 0.5),
        # a perfect list of 3 labels: 3 + 1 shared tokens over 5 reference tokens (commas counted twice)
        ("forest, river, pasture", "forest, river, pasture", 0.8),
        # a perfect list of 2 labels: (2 + 1) / 3
        ("forest, river", "river, forest", 1.0),
    ],
)
def test_token_recall(reference, candidate, expected):
    assert ed.token_recall(reference, candidate) == pytest.approx(expected)


def test_word_tokenize_splits_punctuation_like_nltk():
    # NLTK's Treebank rules: contractions, commas and the final period split off.
    assert ed.word_tokenize("Planes aren't parked, see.") == ["Planes", "are", "n't", "parked", ",", "see", "."]


G = "[[0, 0, 10, 10, 0]]"  # one true box
G2 = "[[0, 0, 10, 10, 0]][[50, 50, 60, 60, 0]]"  # two true boxes


@pytest.mark.parametrize(
    ("rows", "strict", "expected"),
    [
        # a duplicate of the one true box: both count as hits (paper) -> 2 / 2
        ([(G + G, G, "small")], False, {"acc@0.5_small": 1.0, "count_small": 2, "acc@0.5_single": 1.0}),
        # strict one-to-one matching: the duplicate misses -> 1 / 2
        ([(G + G, G, "small")], True, {"acc@0.5_small": 0.5, "count_small": 2}),
        # an empty answer adds to no denominator (paper); a group without hits is 0
        ([("", G, "large"), (G, G, "small")], False, {"count_large": 0, "acc@0.5_large": 0.0, "acc@0.5_small": 1.0}),
        # strict: an empty answer costs one miss
        ([("", G, "large")], True, {"count_large": 1, "acc@0.5_large": 0.0}),
        # a 4-number prediction is counted but never matches
        ([("[[0, 0, 10, 10]]", G, "medium")], False, {"count_medium": 1, "acc@0.5_medium": 0.0}),
        # a true box with a negative number vanishes, so the row is "multiple" (0 parsed true boxes)
        ([(G, "[[-1, 0, 10, 10, 0]]", "small")], False, {"count_multiple": 1, "count_single": 0, "acc@0.5_small": 0.0}),
        # strict reads the negative truth: a hit in "single"
        ([("[[-1, 0, 10, 10, 0]]", "[[-1, 0, 10, 10, 0]]", "small")], True, {"acc@0.5_single": 1.0}),
        # two true boxes: multiple group; one hit of two predictions
        ([(G + "[[80, 80, 90, 90, 0]]", G2, "small")], False, {"acc@0.5_multiple": 0.5, "count_multiple": 2}),
        # a rotated prediction below IoU 0.5 misses (45 degrees: IoU 0.707 hits; a shifted box 1/3 misses)
        ([("[[5, 0, 15, 10, 0]]", G, "small"), ("[[0, 0, 10, 10, 45]]", G, "small")], False, {"acc@0.5_small": 0.5}),
    ],
)
def test_refer_precision(rows, strict, expected):
    result = ed.refer_precision(rows, strict=strict)
    assert {key: result[key] for key in expected} == pytest.approx(expected)


def test_refer_precision_malformed_truth_stops_the_search():
    # upstream's bare try: a 4-number true box before the matching one ends the prediction's search as a miss
    result = ed.refer_precision([(G, "[[1, 2, 3, 4]]" + G, "small")])
    assert result["acc@0.5_small"] == 0.0 and result["count_small"] == 1


def test_refer_precision_unknown_size_group():
    with pytest.raises(ValueError, match="row 0: size_group"):
        ed.refer_precision([(G, G, "tiny")])


@pytest.mark.parametrize(
    ("rows", "threshold", "strict", "expected"),
    [
        # the predicted angle is zeroed: a 45-degree answer on the true box is a hit
        ([("[[0, 0, 10, 10, 45]]", G)], 0.5, False, {"precision@0.5": 1.0, "boxes": 1}),
        # strict keeps the angle: a 45-degree square against the upright one has IoU 0.707 -> still a hit at 0.5
        ([("[[0, 0, 10, 2, 90]]", "[[0, 0, 10, 2, 0]]")], 0.5, True, {"precision@0.5": 0.0}),
        # IoU 1/3 misses at 0.5 and hits at 0.25
        ([("[[5, 0, 15, 10, 0]]", G)], 0.5, False, {"precision@0.5": 0.0}),
        ([("[[5, 0, 15, 10, 0]]", G)], 0.25, False, {"precision@0.25": 1.0}),
        # pooled over the file: 1 hit of 3 boxes
        ([(G + "[[40, 40, 50, 50, 0]]", G), ("[[70, 70, 80, 80, 0]]", G)], 0.5, False, {"precision@0.5": 1 / 3}),
        # a 4-number box: upstream crashes; here a counted miss
        ([("[[0, 0, 10, 10]]", G)], 0.5, False, {"precision@0.5": 0.0, "malformed": 1, "boxes": 1}),
        # no predicted box in the file: upstream divides by zero; here 0
        ([("no buildings", G)], 0.5, False, {"precision@0.5": 0.0, "boxes": 0}),
    ],
)
def test_xbd_precision(rows, threshold, strict, expected):
    result = ed.xbd_precision(rows, threshold=threshold, strict=strict)
    assert {key: result[key] for key in expected} == pytest.approx(expected)


OBJ = '["[[0, 0, 10, 10, 0]]", "[[50, 50, 60, 60, 0]]"]'


@pytest.mark.parametrize(
    ("rows", "strict", "expected"),
    [
        # only one box matched: upstream prints nothing -> None
        ([(G, OBJ)], False, None),
        # two matched of three predicted
        ([(G + " and [[50, 50, 60, 60, 0]] and [[80, 80, 90, 90, 0]]", OBJ)], False, 2 / 3),
        # duplicates of one true box both match (no one-to-one matching)
        ([(G + G + G, OBJ)], False, 1.0),
        # strict: one-to-one, so 1 of 3 duplicates; a value even for a single match
        ([(G + G + G, OBJ)], True, 1 / 3),
        ([(G, OBJ)], True, 1.0),
    ],
)
def test_grounding_precision(rows, strict, expected):
    assert ed.grounding_precision(rows, threshold=0.5, strict=strict)["precision@0.5"] == (
        expected if expected is None else pytest.approx(expected)
    )


def test_grounding_precision_skips_rows_with_50_boxes():
    crowded = "[" + ", ".join(f'"[[{i}, 0, {i + 1}, 1, 0]]"' for i in range(50)) + "]"
    rows = [("[[0, 0, 1, 1, 0]][[1, 0, 2, 1, 0]]", crowded), (G + G, OBJ), ("[[80, 80, 90, 90, 0]]", OBJ)]
    result = ed.grounding_precision(rows, threshold=0.5)
    # the 50-box row is skipped entirely: 2 hits of 3 boxes in the kept rows
    assert (result["kept_rows"], result["boxes@0.5"], result["precision@0.5"]) == (2, 3, pytest.approx(2 / 3))


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        # count rows are ignored; the average weights types by their rows: (1 + 1 + 0) / 3
        (
            [("yes", "yes", "presence"), ("no", "no", "presence"), ("yes", "no", "comp"), ("3", "3", "count")],
            {"presence": 1.0, "comparison": 0.0, "rural_urban": 0.0, "average": 2 / 3, "count_rural_urban": 0},
        ),
        # an empty answer scores 0; a type with no rows prints 0
        ([("rural", "", "rural_urban")], {"rural_urban": 0.0, "presence": 0.0, "average": 0.0}),
        # no scored row at all
        ([("10", "10", "area")], {"average": 0.0}),
    ],
)
def test_vqa_scores(rows, expected):
    result = ed.vqa_scores(rows, ed.token_recall)
    assert {key: result[key] for key in expected} == pytest.approx(expected)


@pytest.mark.parametrize(
    ("candidate", "references", "expected"),
    [
        # averaged over the 5 references, not the max: one exact reference of 5 others disjoint
        ("a plane", ["a plane", "river", "river", "river", "river"], (0.2, 0.2)),
        # a row with one reference
        ("a plane", ["a plane"], (1.0, 1.0)),
        # an empty answer
        ("", ["a plane"], (0.0, 0.0)),
        # empty references count in the average (image captioning uses all 5)
        ("a plane", ["a plane", "", "", "", ""], (0.2, 0.2)),
        # tokenised first: "planes." and "planes" agree (stemmed), ROUGE-L uses order
        ("two planes.", ["planes two"], (1.0, 0.5)),
    ],
)
def test_rouge_multi(candidate, references, expected):
    assert ed.rouge_multi(candidate, references) == pytest.approx(expected)


def test_rouge_prf_raw_strings():
    scores = ed.rouge_prf("1 gray medium airplane at the top left", "1 airplane at the top left")
    # 6 shared unigrams: precision 6/6, recall 6/8
    assert (scores["rouge1_precision"], scores["rouge1_recall"]) == pytest.approx((1.0, 0.75))


@needs_wordnet
@pytest.mark.parametrize(
    ("candidate", "references", "expected"),
    [
        # exact match of 6 words: fragmentation penalty 0.5 * (1/6)^3
        ("a plane on the grass runway", ["a plane on the grass runway"], 1 - 0.5 / 216),
        # an empty answer
        ("", ["a plane"], 0.0),
        # the max over the references: the second is exact
        ("a plane", ["river bank", "a plane"], 1 - 0.5 / 8),
        # WordNet synonyms match ("car" / "auto") ...
        ("a car", ["a auto"], 1 - 0.5 / 8),
        # ... but after NLTK's stemming stage, which stems the leftover words first: "airplan" has no synset
        ("an airplane", ["an plane"], 0.25),
    ],
)
def test_meteor_multi(candidate, references, expected):
    assert ed.meteor_multi(candidate, references) == pytest.approx(expected, abs=1e-4)


@needs_wordnet
def test_meteor_whitespace_keeps_punctuation_glued():
    # whitespace tokens: "left." is not "left", so 2 of 3 words match
    value = ed.meteor_whitespace("at the left", "at the left.")
    assert 0.0 < value < ed.meteor_whitespace("at the left", "at the left")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # ref tags and boxed markup removed, spaces kept
        ("there is <ref>1 car</ref> <box>[[[1, 2, 3, 4, 0]]]</box> at left", "there is 1 car  at left"),
        # a bare [[..]] in a model answer
        ("buildings [[80, 0, 88, 12, 90], [88, 0, 100, 12, 90]]  close", "buildings   close"),
        # nothing to clean
        ("a plain sentence", "a plain sentence"),
    ],
)
def test_clean_description(text, expected):
    assert ed.clean_description(text) == expected


def test_text_tools_records_tokenizer_and_wordnet():
    tools = ed.text_tools()
    assert tools["tokenizer"] in ("nltk punkt_tab", "untrained PunktSentenceTokenizer + NLTKWordTokenizer")
    assert tools["wordnet"] in (None, "3.0")
