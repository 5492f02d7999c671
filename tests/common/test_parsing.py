"""Table-driven tests for common.parsing, the one parser behind every reward and scorer (SPEC 5, 6.2)."""

import doctest
import functools
import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common import parsing
from common.parsing import (
    box_iou,
    contains_keyword,
    extract_answer,
    first_ints,
    first_number,
    has_format,
    mentions_keyword_strict,
    normalise_label,
    normalise_unit_box,
    parse_box,
    parse_boxes,
    parse_choice,
    parse_yes_no,
    scale_box,
    scorers_answer,
    split_labels,
)
from common.prompts import SAMCHAT_KEYWORDS


def test_docstring_examples():
    result = doctest.testmod(parsing)
    assert result.attempted >= 30
    assert result.failed == 0


# --- extract_answer -----------------------------------------------------------------------------------------------

EXTRACT_CASES = [
    # (text, tag, ignore_case, expected)
    ("<reasoning>r</reasoning><answer> Airport </answer>", "answer", False, "Airport"),  # the usual layout
    ("  plain text \n", "answer", False, "plain text"),  # no tag: whole text, stripped
    ("<answer>a</answer><answer>b</answer>", "answer", False, "a"),  # first pair wins
    ("<answer>multi\nline</answer>", "answer", False, "multi\nline"),  # DOTALL
    ("<answer>unclosed", "answer", False, "<answer>unclosed"),  # no closing tag: whole text
    ("</answer>x<answer>y", "answer", False, "</answer>x<answer>y"),  # closing before opening: no pair
    ("<answer><answer>x</answer>", "answer", False, "<answer>x"),  # lazy from the FIRST opening tag, as re.search
    ("<ANSWER>yes</ANSWER>", "answer", False, "<ANSWER>yes</ANSWER>"),  # case-sensitive by default (SPEC 5)
    ("<ANSWER>yes</Answer>", "answer", True, "yes"),  # SAMData metric: case-insensitive tags (SPEC 6.1)
    ("<think>t</think><ans>x</ans>", "ans", False, "x"),  # tag name is configuration
    ("<a.b>x</a.b>", "a.b", False, "x"),  # tag used literally, not as a regex
    ("<answer></answer>", "answer", False, ""),  # empty answer stays empty
    ("", "answer", False, ""),  # empty input
]


@pytest.mark.parametrize("text, tag, ignore_case, expected", EXTRACT_CASES)
def test_extract_answer(text, tag, ignore_case, expected):
    assert extract_answer(text, tag, ignore_case=ignore_case) == expected


@given(st.text(alphabet="<>/answerAN x\n", max_size=60))
@settings(max_examples=300, deadline=None)
def test_extract_answer_agrees_with_the_upstream_regex(text):
    # The literal-search implementation must give exactly what upstream's regex gives (SPEC 5).
    match = re.search(r"<answer>(.*?)</answer>", text, re.DOTALL)
    assert extract_answer(text) == (match.group(1).strip() if match else text.strip())


# --- has_format ---------------------------------------------------------------------------------------------------

FORMAT_CASES = [
    # (text, think_tag, mode, expected)
    ("<reasoning>r</reasoning><answer>a</answer>", "reasoning", "search", True),  # minimal layout
    ("<reasoning>r</reasoning>\n\n <answer>a</answer>", "reasoning", "search", True),  # whitespace between blocks
    ("<reasoning>r</reasoning><answer>a</answer> extra", "reasoning", "search", True),  # trailing text allowed
    (" <reasoning>r</reasoning><answer>a</answer>", "reasoning", "search", False),  # re.match: must start there
    ("<reasoning>r</reasoning> x <answer>a</answer>", "reasoning", "search", False),  # text between blocks
    ("<reasoning>r</reasoning><answer>a", "reasoning", "search", False),  # answer not closed
    ("<answer>a</answer><reasoning>r</reasoning>", "reasoning", "search", False),  # wrong order
    ("<reasoning></reasoning><answer></answer>", "reasoning", "search", True),  # empty blocks still match .*?
    ("<reasoning>a</reasoning>b</reasoning><answer>c</answer>", "reasoning", "search", True),  # backtracks to 2nd
    ("<reasoning>r</reasoning><answer>a</answer>", "think", "search", False),  # other tag name configured
    ("<think>r</think><answer>a</answer>", "think", "fullmatch", True),  # VLM-R1 style
    ("\n <think>r</think> <answer>a</answer> \n", "think", "fullmatch", True),  # surrounding whitespace allowed
    ("<think>r</think><answer>a</answer> extra", "think", "fullmatch", False),  # trailing text rejected
    ("<think>r</think><answer>a</answer>x</answer>", "think", "fullmatch", True),  # .*? may span a closing tag
    ("<think></answer>", "think", "fullmatch", False),  # middle part missing
    ("", "reasoning", "search", False),  # empty
]


@pytest.mark.parametrize("text, think_tag, mode, expected", FORMAT_CASES)
def test_has_format(text, think_tag, mode, expected):
    assert has_format(text, think_tag=think_tag, mode=mode) is expected


@given(
    st.lists(st.sampled_from(["<think>", "</think>", "<answer>", "</answer>", " ", "\n", "x"]), max_size=12).map(
        "".join
    )
)
@settings(max_examples=400, deadline=None)
def test_has_format_agrees_with_the_upstream_regexes(text):
    pattern = r"<think>.*?</think>\s*<answer>.*?</answer>"
    assert has_format(text, think_tag="think") is bool(re.match(pattern, text, re.DOTALL))
    assert has_format(text, think_tag="think", mode="fullmatch") is bool(re.fullmatch(pattern, text.strip(), re.DOTALL))


def test_has_format_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode must be"):
        has_format("x", mode="strict")


# --- scorers_answer -----------------------------------------------------------------------------------------------

SCORERS_CASES = [
    # (text, expected) -- upstream's split-based cut (SPEC 6.2), not stripped
    ("<reasoning>r</reasoning><answer>Airport</answer>", "Airport"),  # usual layout
    ("<reasoning>r</reasoning> Airport", " Airport"),  # no answer tag: everything after </reasoning>
    ("<reasoning>unfinished", "<reasoning>unfinished"),  # no </reasoning>: IndexError upstream, text kept
    ("<reasoning>unfinished <answer>Forest", "Forest"),  # ...then the answer cut still applies
    ("<answer>Forest</answer> more", "Forest"),  # no reasoning tag
    ("<answer>Forest", "Forest"),  # unclosed answer: to the end
    ("<answer>a<answer>b</answer>", "a"),  # split()[1] stops at the next opening tag
    ("<reasoning>a</reasoning>b</reasoning>c", "b"),  # only up to the next </reasoning>
    ("plain", "plain"),  # nothing to cut
]


@pytest.mark.parametrize("text, expected", SCORERS_CASES)
def test_scorers_answer(text, expected):
    assert scorers_answer(text) == expected


def test_scorers_answer_tag_names_are_configurable():
    assert scorers_answer("<think>t</think><ans>A</ans>", think_tag="think", answer_tag="ans") == "A"


# --- parse_box / parse_boxes --------------------------------------------------------------------------------------

BOX_CASES = [
    # (text, syntax, expected)
    ("[[120, 40, 560, 300]]", "list", (120.0, 40.0, 560.0, 300.0)),  # TinyRS answer
    ("<answer>[12.5,3,40,50.25]</answer>", "list", (12.5, 3.0, 40.0, 50.25)),  # floats, no spaces
    ("[ 1 2 3 4 ]", "list", (1.0, 2.0, 3.0, 4.0)),  # whitespace separators
    ("[-5, 0, 10, 20]", "list", (-5.0, 0.0, 10.0, 20.0)),  # negative coordinate
    ("[1, 2, 3]", "list", None),  # three numbers
    ("[1, 2, 3, 4, 5]", "list", None),  # five numbers: not a box
    ("[a, 2, 3, 4]", "list", None),  # not a number
    ("[1, 2, 3, 4] then [5, 6, 7, 8]", "list", (1.0, 2.0, 3.0, 4.0)),  # first box wins
    ("[" + "9" * 400 + ", 1, 2, 3] [1, 2, 3, 4]", "list", (1.0, 2.0, 3.0, 4.0)),  # overflowing box skipped
    ("<|box_start|>(10,20),(30,40)<|box_end|>", "tuple", (10.0, 20.0, 30.0, 40.0)),  # Qwen2-VL native
    ("(10, 20) (30.5, 40)", "tuple", (10.0, 20.0, 30.5, 40.0)),  # spaces, no comma between points
    ("(10,20)", "tuple", None),  # one point only
    ("x1=10, y1=20, x2=30, y2=40", "numbers", (10.0, 20.0, 30.0, 40.0)),  # names with digits are not numbers
    ("0.1 0.2 0.5 0.6", "numbers", (0.1, 0.2, 0.5, 0.6)),  # unit box kept as is (normalise_unit_box scales)
    ("from 10-20 to 30-40", "numbers", (10.0, 20.0, 30.0, 40.0)),  # "10-20" is a range, not 10 and -20
    ("1 2 3 4 5", "numbers", None),  # exactly four required
    ("nan, inf, 1e999, 4", "numbers", None),  # words and exponents are not four numbers
    ("[[1,2,3,4]]", "auto", (1.0, 2.0, 3.0, 4.0)),  # auto: list first
    ("(1,2),(3,4) and [5,6,7,8]", "auto", (5.0, 6.0, 7.0, 8.0)),  # list preferred over tuple
    ("(1,2),(3,4)", "auto", (1.0, 2.0, 3.0, 4.0)),  # then tuple
    ("left 1 top 2 right 3 bottom 4", "auto", (1.0, 2.0, 3.0, 4.0)),  # then four numbers
    ("no box", "auto", None),  # nothing
    # Paper syntaxes: upstream regexes exactly (SPEC 6.2).
    ("[[120, 40, 560, 300]]", "tinyrs", (120.0, 40.0, 560.0, 300.0)),  # TinyRS style
    ("[[120 40 560 300]]", "tinyrs", (120.0, 40.0, 560.0, 300.0)),  # spaces as separators upstream too
    ("[120, 40, 560, 300]", "tinyrs", None),  # single brackets: upstream drops it
    ("[[12.5, 40, 560, 300]]", "tinyrs", None),  # decimals: upstream drops it
    ("(10,20),(30,40)", "qwen2vl", (10.0, 20.0, 30.0, 40.0)),  # Qwen2-VL style
    ("(10, 20),(30, 40)", "qwen2vl", None),  # spaces: upstream drops it
    ("0.1, 0.2, 0.5, 0.6", "qwen2vl_instruct", (100.0, 200.0, 500.0, 600.0)),  # unit values scaled by 1000
    ("100, 200, 500, 600", "qwen2vl_instruct", (100.0, 200.0, 500.0, 600.0)),  # grid values kept
    ("x1 100 y1 200 x2 500 y2 600", "qwen2vl_instruct", None),  # upstream counts the 1s and 2s: 8 numbers
]


@pytest.mark.parametrize("text, syntax, expected", BOX_CASES)
def test_parse_box(text, syntax, expected):
    assert parse_box(text, syntax) == expected


def test_parse_box_rejects_unknown_syntax():
    with pytest.raises(ValueError, match="syntax must be one of"):
        parse_box("[1,2,3,4]", "xyxy")


PARSE_BOXES_CASES = [
    # (text, expected)
    ("[[1, 2, 3, 4], [5, 6, 7, 8]]", [(1.0, 2.0, 3.0, 4.0), (5.0, 6.0, 7.0, 8.0)]),  # nested list of boxes
    ("a [1,2,3,4] b [1,2,3,4]", [(1.0, 2.0, 3.0, 4.0), (1.0, 2.0, 3.0, 4.0)]),  # duplicates kept (AP penalises)
    ("[1,2,3] [4,5,6,7,8]", []),  # no four-number list
    ("", []),  # empty
]


@pytest.mark.parametrize("text, expected", PARSE_BOXES_CASES)
def test_parse_boxes(text, expected):
    assert parse_boxes(text) == expected


UNIT_BOX_CASES = [
    # (box, grid, expected)
    ((0.1, 0.2, 0.5, 1.0), 1000.0, (100.0, 200.0, 500.0, 1000.0)),  # all in [0, 1]: scaled
    ((0.0, 0.0, 1.0, 1.0), 1000.0, (0.0, 0.0, 1000.0, 1000.0)),  # upstream ambiguity reproduced
    ((0.1, 0.2, 0.5, 2.0), 1000.0, (0.1, 0.2, 0.5, 2.0)),  # one value above 1: unchanged
    ((0.5, 0.5, 1.0, 1.0), 100.0, (50.0, 50.0, 100.0, 100.0)),  # other grid
]


@pytest.mark.parametrize("box, grid, expected", UNIT_BOX_CASES)
def test_normalise_unit_box(box, grid, expected):
    assert normalise_unit_box(box, grid) == expected


# --- first_ints / first_number ------------------------------------------------------------------------------------

FIRST_INTS_CASES = [
    # (text, n, expected) -- upstream TinyRS reward: re.findall(r"\d+") (SPEC 5)
    ("[[12, 30, 400, 512]]", 4, [12, 30, 400, 512]),  # the usual answer
    ("12.5, 3, 40, 50", 4, [12, 5, 3, 40]),  # a decimal splits into two integers, as upstream
    ("[-5, 10, 20, 30]", 4, [5, 10, 20, 30]),  # sign ignored, as upstream
    ("007 8 9 10", 4, [7, 8, 9, 10]),  # leading zeros
    ("1 2 3", 4, None),  # too few
    ("1 2 3 4 5 6", 2, [1, 2]),  # n configurable
    ("x", 0, []),  # n = 0
    ("9" * 5000 + " 1 2 3", 4, None),  # beyond Python's int-conversion limit: None, not ValueError
    ("0" * 5000 + "7 1 2 3", 4, [7, 1, 2, 3]),  # long run of leading zeros is still a small number
    ("١٢ 3 4 5", 4, [12, 3, 4, 5]),  # \d also matches Arabic-Indic digits, as upstream
]


@pytest.mark.parametrize("text, n, expected", FIRST_INTS_CASES)
def test_first_ints(text, n, expected):
    assert first_ints(text, n) == expected


FIRST_NUMBER_CASES = [
    # (text, expected)
    ("Score: 7", 7.0),  # judge reply
    ("7.5/10", 7.5),  # decimal, first number only
    ("10", 10.0),  # plain
    ("There are -2 planes", -2.0),  # signed (the judge reward clips it to 0)
    ("range 3-5", 3.0),  # range: first end
    ("gpt4 says 8", 8.0),  # digits glued to letters are not numbers
    ("1e999", 1.0),  # exponents are not part of a number
    ("nan", None),  # words are not numbers
    ("inf", None),
    ("9" * 400, None),  # overflows a float: None, never inf
    ("", None),  # empty
    ("three", None),  # number words are not parsed
]


@pytest.mark.parametrize("text, expected", FIRST_NUMBER_CASES)
def test_first_number(text, expected):
    assert first_number(text) == expected


# --- box_iou / scale_box ------------------------------------------------------------------------------------------

IOU_CASES = [
    # (a, b, expected)
    ((0, 0, 10, 10), (0, 0, 10, 10), 1.0),  # identical
    ((0, 0, 10, 10), (5, 0, 15, 10), 50 / 150),  # half overlap
    ((0, 0, 10, 10), (2, 2, 4, 4), 4 / 100),  # contained
    ((0, 0, 10, 10), (10, 0, 20, 10), 0.0),  # touching edges
    ((0, 0, 10, 10), (20, 20, 30, 30), 0.0),  # disjoint
    ((10, 10, 0, 0), (0, 0, 10, 10), 0.0),  # reversed corners: degenerate
    ((0, 0, 0, 10), (0, 0, 0, 10), 0.0),  # zero width
    ((0, 0, math.inf, 10), (0, 0, 10, 10), 0.0),  # non-finite
    ((0, 0, math.nan, 10), (0, 0, 10, 10), 0.0),  # NaN
    ((-1e308, -1e308, 1e308, 1e308), (0, 0, 10, 10), 0.0),  # area overflows to inf
]


@pytest.mark.parametrize("a, b, expected", IOU_CASES)
def test_box_iou(a, b, expected):
    assert box_iou(a, b) == pytest.approx(expected)


SCALE_CASES = [
    # (box, from_size, to_size, expected)
    ((100, 200, 500, 1000), (1000, 1000), (640, 480), (64.0, 96.0, 320.0, 480.0)),  # grid -> pixels
    ((64, 96, 320, 480), (640, 480), (1000, 1000), (100.0, 200.0, 500.0, 1000.0)),  # pixels -> grid
    ((28, 28, 56, 56), (448, 448), (800, 600), (50.0, 37.5, 100.0, 75.0)),  # resized input -> original frame
]


@pytest.mark.parametrize("box, from_size, to_size, expected", SCALE_CASES)
def test_scale_box(box, from_size, to_size, expected):
    assert scale_box(box, from_size, to_size) == pytest.approx(expected)


def test_scale_box_rejects_empty_frame():
    with pytest.raises(ValueError, match="from_size must be positive"):
        scale_box((0, 0, 1, 1), (0, 100), (100, 100))


# --- labels, yes/no, choices --------------------------------------------------------------------------------------

LABEL_CASES = [
    # (text, expected)
    ('  "Dense   Residential." ', "dense residential"),  # quotes, spaces, trailing period
    ("[Airport]", "airport"),  # brackets
    ("Storage-Tanks!", "storage-tanks"),  # inner hyphen kept, trailing punctuation trimmed
    ("2.5", "2.5"),  # inner dot kept
    ("«Forêt»", "forêt"),  # unicode quotes and letters
    ("...", ""),  # nothing left
    ("", ""),  # empty
]


@pytest.mark.parametrize("text, expected", LABEL_CASES)
def test_normalise_label(text, expected):
    assert normalise_label(text) == expected


SPLIT_CASES = [
    # (text, expected)
    ("Forest, River; bare soil and  Buildings.", ["forest", "river", "bare soil", "buildings"]),  # all separators
    ("sand", ["sand"]),  # "and" inside a word is not a separator
    ("one\ntwo", ["one", "two"]),  # newline
    (", ,", []),  # only separators
]


@pytest.mark.parametrize("text, expected", SPLIT_CASES)
def test_split_labels(text, expected):
    assert split_labels(text) == expected


YES_NO_CASES = [
    # (text, expected)
    ("Yes", "yes"),  # plain
    ("no.", "no"),  # punctuation
    ('"YES"', "yes"),  # quoted, upper case
    ("Yes, there is no road.", "yes"),  # the first word decides
    ("I think the answer is no", "no"),  # a single yes/no word anywhere
    ("yes or no", "yes"),  # first word again
    ("It could be yes or no", None),  # both, none leading: ambiguous
    ("nobody knows", None),  # whole words only
    ("maybe", None),  # neither
    ("", None),  # empty
]


@pytest.mark.parametrize("text, expected", YES_NO_CASES)
def test_parse_yes_no(text, expected):
    assert parse_yes_no(text) == expected


CHOICE_CASES = [
    # (text, choices, expected)
    ("B", "ABCD", "B"),  # bare letter
    ("b", "ABCD", "B"),  # one-letter answer, lower case
    ("(C)", "ABCD", "C"),  # parenthesised
    ("D.", "ABCD", "D"),  # trailing period
    ("C. Harbour", "ABCD", "C"),  # letter then description
    ("The answer is B.", "ABCD", "B"),  # phrase
    ("Answer: (A)", "ABCD", "A"),  # parenthesised letter anywhere
    ("option c", "ABCD", None),  # lower-case letter in running text is not trusted
    ("the answer is a building", "ABCD", None),  # the article "a" is not choice A
    ("A large airport", "ABCD", None),  # capital article is not a choice
    ("E", "ABCD", None),  # outside the allowed choices
    ("(E)", "ABCDEFGH", "E"),  # default-like larger set
    ("", "ABCD", None),  # empty
]


@pytest.mark.parametrize("text, choices, expected", CHOICE_CASES)
def test_parse_choice(text, choices, expected):
    assert parse_choice(text, choices) == expected


# --- keywords -----------------------------------------------------------------------------------------------------

KEYWORD_CASES = [
    # (text, paper contains_keyword, strict mentions_keyword_strict)
    ("A military base with missile silos.", True, True),  # plain positive
    ("There are no military structures.", True, False),  # "no" negates; the paper protocol still counts it
    ("This is not a missile site.", True, False),  # "not" two words before
    ("An airfield without any silo.", True, False),  # "without", skipping "any"
    ("A non-military airport.", True, False),  # "non-" prefix
    ("A paramilitary camp.", True, False),  # substring but not a whole word
    ("No roads, but a missile battery is visible.", True, True),  # "but" ends the negation scope
    ("Several missiles on launchers.", True, True),  # plural -s
    ("Two silos near a farm.", True, True),  # plural of silo (keyword semantics, not world knowledge)
    ("The image doesn't show military vehicles.", True, False),  # n't contraction
    ("The image doesn’t show military vehicles.", True, False),  # typographic apostrophe
    ("Neither military nor missile facilities are present.", True, False),  # neither / nor
    ("None of the buildings appear military.", True, False),  # "none", function words skipped
    ("There is a complete absence of military activity.", True, False),  # "absence of"
    ("The area is free of military installations.", True, False),  # "free of"
    ("Free-standing missile launchers.", True, True),  # "free" without "of" is not a negation
    ("No roads. A missile site occupies the centre.", True, True),  # sentence boundary ends the scope
    ("There are no visible signs of any military presence.", True, False),  # 3 counted words back
    ("No vehicles, tanks, or missile launchers.", True, False),  # a list keeps the negation
    ("Although there are no roads, a military base is visible.", True, True),  # ", a" opens a new phrase
    ("There is no military base or missile silo.", True, False),  # every hit negated
    ("No roads are visible in this residential area with a missile site.", True, True),  # negator out of window
    ("MILITARY HANGARS", True, True),  # case-insensitive
    ("the military's hangar", True, True),  # possessive
    ("anti-missile battery", True, True),  # hyphenated compound is a whole-word hit
    ("silo2 tower", True, False),  # glued to a digit: not a whole word
    ("The military presence is absent.", True, True),  # documented limit: negation after the keyword
    ("A harbour with cranes.", False, False),  # no keyword
    ("", False, False),  # empty
]


@pytest.mark.parametrize("text, paper, strict", KEYWORD_CASES)
def test_keyword_protocols(text, paper, strict):
    assert contains_keyword(text, SAMCHAT_KEYWORDS) is paper
    assert mentions_keyword_strict(text, SAMCHAT_KEYWORDS) is strict


KEYWORD_ARG_CASES = [
    # (text, keywords, paper, strict)
    ("an air  base", ["air base"], False, True),  # multi-word keyword: substring needs one space, strict any
    ("a military base", "military", True, True),  # a bare string is one keyword, not its characters
    ("a military base", "mil", True, False),  # bare-string prefix: substring yes, whole word no
    ("anything", [""], False, False),  # empty keyword ignored (it would match every text)
    ("anything", [], False, False),  # no keywords
    ("A MISSILE", ["Missile"], True, True),  # keywords are case-insensitive too
]


@pytest.mark.parametrize("text, keywords, paper, strict", KEYWORD_ARG_CASES)
def test_keyword_arguments(text, keywords, paper, strict):
    assert contains_keyword(text, keywords) is paper
    assert mentions_keyword_strict(text, keywords) is strict


@pytest.mark.parametrize(
    "window, expected",
    [
        (2, True),  # "no" is 3 counted words before "military": outside a 2-word window
        (3, False),  # inside a 3-word window
    ],
)
def test_mentions_keyword_strict_window(window, expected):
    text = "no clear visible military hangar"
    assert mentions_keyword_strict(text, ["military"], window=window) is expected


# --- robustness ---------------------------------------------------------------------------------------------------

STRING_FUNCTIONS = {
    "extract_answer": (lambda t: extract_answer(t), str),
    "extract_answer_ci": (lambda t: extract_answer(t, ignore_case=True), str),
    "has_format": (lambda t: has_format(t), bool),
    "has_format_full": (lambda t: has_format(t, think_tag="think", mode="fullmatch"), bool),
    "scorers_answer": (lambda t: scorers_answer(t), str),
    **{f"parse_box_{s}": (functools.partial(parse_box, syntax=s), (tuple, type(None))) for s in parsing.BOX_SYNTAXES},
    "parse_boxes": (lambda t: parse_boxes(t), list),
    "first_ints": (lambda t: first_ints(t), (list, type(None))),
    "first_number": (lambda t: first_number(t), (float, type(None))),
    "normalise_label": (lambda t: normalise_label(t), str),
    "split_labels": (lambda t: split_labels(t), list),
    "parse_yes_no": (lambda t: parse_yes_no(t), (str, type(None))),
    "parse_choice": (lambda t: parse_choice(t), (str, type(None))),
    "contains_keyword": (lambda t: contains_keyword(t, SAMCHAT_KEYWORDS), bool),
    "mentions_keyword_strict": (lambda t: mentions_keyword_strict(t, SAMCHAT_KEYWORDS), bool),
}

# Text that looks like model output: tags, brackets, digits, signs, words that resemble numbers, unicode.
_PIECES = ["<answer>", "</answer>", "<think>", "</think>", "<reasoning>", "</reasoning>", "[[", "]]", "[", "]"]
_PIECES += ["(", ")", ",", " ", "\n", "-", ".", "1", "42", "0.5", "1e999", "nan", "inf", "-7", "9" * 400]
_PIECES += ["no", "not", "military", "missile", "silos", "non-", "yes", "(B)", "é", "日本", "\u200b", "n't"]
model_like_text = st.one_of(st.text(), st.lists(st.sampled_from(_PIECES), max_size=30).map("".join))


def _assert_declared_output(value, declared):
    assert isinstance(value, declared)
    if isinstance(value, tuple):  # a Box: four finite floats
        assert len(value) == 4 and all(isinstance(v, float) and math.isfinite(v) for v in value)
    if isinstance(value, float):
        assert math.isfinite(value)
    if isinstance(value, list):
        assert all(isinstance(item, (int, str, tuple)) for item in value)


@pytest.mark.parametrize("name", sorted(STRING_FUNCTIONS))
@given(text=model_like_text)
@settings(max_examples=150, deadline=None)
def test_every_parser_accepts_any_text(name, text):
    function, declared = STRING_FUNCTIONS[name]
    _assert_declared_output(function(text), declared)


@given(a=st.tuples(*[st.floats(allow_nan=True, allow_infinity=True)] * 4), b=st.tuples(*[st.floats()] * 4))
@settings(max_examples=300, deadline=None)
def test_box_iou_stays_in_unit_interval(a, b):
    iou = box_iou(a, b)
    assert isinstance(iou, float) and 0.0 <= iou <= 1.0


ADVERSARIAL_TEXTS = {
    # ~1 MB inputs that make naive regexes quadratic or worse; each call must simply finish.
    "opening_tags": "<answer>" * 130_000,
    "reasoning_then_many_middles": "<reasoning>" + "</reasoning> <answer>" * 50_000,
    "brackets": "[" * 1_000_000,
    "brackets_with_digit_runs": ("[" + "1" * 50 + " ") * 20_000,
    "one_digit_run": "9" * 1_000_000,
    "point_then_spaces": "(1,2)" + " " * 1_000_000,
    "list_then_spaces": "[1" + " " * 1_000_000,
    "negated_keywords": "no military " * 90_000,
    "dotted_digits": "1." * 500_000,
    "minus_signs": "-" * 1_000_000,
    "commas": "," * 1_000_000,
    "repeated_points": "(1,2)," * 160_000,
}


@pytest.mark.parametrize("name", sorted(ADVERSARIAL_TEXTS))
def test_large_adversarial_inputs_complete(name):
    text = ADVERSARIAL_TEXTS[name]
    for function_name in sorted(STRING_FUNCTIONS):
        function, declared = STRING_FUNCTIONS[function_name]
        _assert_declared_output(function(text), declared)
