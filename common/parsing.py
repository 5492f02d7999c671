"""The one answer parser: every GRPO reward and every evaluation scorer reads model output through these functions.

Because rewards and scorers share this module, what a model is trained towards and what it is measured on cannot
drift apart (SPEC 5, 6). All functions are pure and accept any string: on text they cannot interpret they return
None, "" or False, never raise (only a wrong option, such as an unknown box syntax, raises ValueError).

Linear time: every regular expression here is written so that no two adjacent quantified parts can match the same
characters, and the patterns that a regex engine would run in quadratic time (`<a>.*?</a>` searched over text with
many opening tags and no closing one) are done with literal searches instead. Each function parses a 1 MB
adversarial completion in well under a second (tests/common/test_parsing.py feeds such strings to all of them).

Numbers: a "number" is `-?digits(.digits)?` not glued to a preceding ASCII letter or digit ("x1" is a name). A minus
sign counts only when it does not directly follow a digit, so the range "10-20" reads as 10 and 20, not 10 and -20.
Exponents ("1e5") and words ("nan", "inf") are not numbers; a digit run so long that it overflows a float is
rejected (never returned as inf). `first_ints` is the exception: it reproduces the TinyRS reward's unsigned `\\d+`
runs exactly (see its docstring).
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Sequence

Box = tuple[float, float, float, float]  # corner format: x1, y1, x2, y2

_NUM = r"-?\d+(?:\.\d+)?"
# Free-standing number: not glued to a preceding ASCII letter or digit ("x1" is a name, not the number 1), and a minus
# sign is a sign only when it does not follow a digit or a dot ("10-20" is a range: 10 and 20).
_FREE_NUM_RE = re.compile(r"(?<![A-Za-z\d.])-\d+(?:\.\d+)?|(?<![A-Za-z\d])\d+(?:\.\d+)?")
_SEP = r"(?:\s*,\s*|\s+)"  # list separator: a comma with optional spaces, or plain whitespace
_LIST_RE = re.compile(rf"\[\s*({_NUM}){_SEP}({_NUM}){_SEP}({_NUM}){_SEP}({_NUM})\s*\]")
_TUPLE_RE = re.compile(rf"\(\s*({_NUM})\s*,\s*({_NUM})\s*\)\s*(?:,\s*)?\(\s*({_NUM})\s*,\s*({_NUM})\s*\)")

# Upstream ScoreRS parsers (SPEC 6.2), reproduced character for character for the paper protocol: unsigned numbers,
# TinyRS needs double brackets and integers, Qwen2-VL needs "(a,b),(c,d)" without spaces.
_TINYRS_RE = re.compile(r"\[\[(\d+)[,\s]+(\d+)[,\s]+(\d+)[,\s]+(\d+)\]\]")
_QWEN2VL_RE = re.compile(r"\((\d+(?:\.\d+)?),(\d+(?:\.\d+)?)\),\((\d+(?:\.\d+)?),(\d+(?:\.\d+)?)\)")
# Upstream's Qwen2-VL reasoning-mode fallback: `[a, b, c, d]`, unsigned, each number directly followed by its comma
# (spaces allowed only after a comma), no space inside the brackets' ends.
_QWEN2VL_LIST_RE = re.compile(r"\[(\d+(?:\.\d+)?),\s*(\d+(?:\.\d+)?),\s*(\d+(?:\.\d+)?),\s*(\d+(?:\.\d+)?)\]")
_UNSIGNED_NUM_RE = re.compile(r"\d+(?:\.\d+)?")

BOX_SYNTAXES = ("auto", "list", "tuple", "numbers", "tinyrs", "qwen2vl", "qwen2vl_list", "qwen2vl_instruct")


def extract_answer(text: str, tag: str = "answer", *, ignore_case: bool = False) -> str:
    """Return the first `<tag>...</tag>` content, stripped; without a complete tag pair, the whole text stripped.

    Same result as `re.search(r"<tag>(.*?)</tag>", text, re.DOTALL)` (SPEC 5), computed with literal searches so
    that a text full of opening tags and no closing tag costs linear time.

    >>> extract_answer("<reasoning>r</reasoning><answer> Airport </answer>")
    'Airport'
    >>> extract_answer("no tags here ")
    'no tags here'
    >>> extract_answer("<ANSWER>yes</ANSWER>", ignore_case=True)
    'yes'
    """
    flags = re.IGNORECASE if ignore_case else 0
    opening = re.compile(re.escape(f"<{tag}>"), flags).search(text)
    if opening:
        # The leftmost opening tag with any closing tag after it is where the regex would match; if the first
        # opening tag has no closing tag after it, no later one has either.
        closing = re.compile(re.escape(f"</{tag}>"), flags).search(text, opening.end())
        if closing:
            return text[opening.end() : closing.start()].strip()
    return text.strip()


def has_format(text: str, *, think_tag: str = "reasoning", answer_tag: str = "answer", mode: str = "search") -> bool:
    """Whether `text` has the R1 layout `<think>...</think> <answer>...</answer>` (SPEC 5, format reward).

    mode "search" (SAMChat, TinyRS): `re.match` of `<think>.*?</think>\\s*<answer>.*?</answer>` (DOTALL), i.e. the
    text must start with the think tag; text after `</answer>` is allowed. mode "fullmatch" (VLM-R1 / GeoVLM-R1):
    the same pattern must cover the whole text, ignoring surrounding whitespace. Computed with literal searches
    (same answer as the regex, linear time).

    >>> has_format("<reasoning>r</reasoning>\\n<answer>a</answer> trailing")
    True
    >>> has_format("<reasoning>r</reasoning>\\n<answer>a</answer> trailing", mode="fullmatch")
    False
    >>> has_format(" <think>r</think><answer>a</answer>\\n", think_tag="think", mode="fullmatch")
    True
    """
    if mode not in ("search", "fullmatch"):
        raise ValueError(f"has_format: mode must be 'search' or 'fullmatch', got {mode!r}")
    think_open, answer_close = f"<{think_tag}>", f"</{answer_tag}>"
    if mode == "fullmatch":
        text = text.strip()
    if not text.startswith(think_open):
        return False
    middle = re.compile(re.escape(f"</{think_tag}>") + r"\s*" + re.escape(f"<{answer_tag}>"))
    # The earliest `</think>\s*<answer>` also ends earliest, so it is the only candidate worth checking.
    found = middle.search(text, len(think_open))
    if not found:
        return False
    if mode == "search":
        return text.find(answer_close, found.end()) >= 0
    return text.endswith(answer_close) and found.end() <= len(text) - len(answer_close)


def scorers_answer(text: str, *, think_tag: str = "reasoning", answer_tag: str = "answer") -> str:
    """The answer part of a ScoreRS prediction, exactly as the upstream scorer cuts it (SPEC 6.2); not stripped.

    If `<think_tag>` occurs, keep the text between the first `</think_tag>` and the next one, looking only between
    the first and the second `<think_tag>`; when that segment has no `</think_tag>` the text is kept whole (upstream
    caught the IndexError). Then, if `<answer_tag>` occurs, keep what follows its first occurrence up to the next
    `</answer_tag>` or `<answer_tag>` (to the end when there is neither).

    >>> scorers_answer("<reasoning>r</reasoning><answer>Airport</answer>")
    'Airport'
    >>> scorers_answer("<reasoning>unfinished <answer>Forest")
    'Forest'
    """
    think_open, think_close = f"<{think_tag}>", f"</{think_tag}>"
    if think_open in text:
        parts = text.split(think_open)[1].split(think_close)
        if len(parts) > 1:
            text = parts[1]
    answer_open = f"<{answer_tag}>"
    if answer_open in text:
        text = text.split(answer_open)[1].split(f"</{answer_tag}>")[0]
    return text


def _finite_box(values: Iterable[str]) -> Box | None:
    try:
        box = tuple(float(v) for v in values)
    except ValueError:  # a Unicode digit that float() does not take; never seen in practice
        return None
    if len(box) != 4 or not all(math.isfinite(v) for v in box):
        return None
    return box  # type: ignore[return-value]  # length checked above


def _first_box(pattern: re.Pattern[str], text: str) -> Box | None:
    for match in pattern.finditer(text):
        box = _finite_box(match.groups())
        if box is not None:
            return box
    return None


def parse_box(text: str, syntax: str = "auto") -> Box | None:
    """The first box in `text`, as floats in the text's own frame, or None.

    Lenient syntaxes (GRPO rewards, strict scorers):
    - "list": `[x1, y1, x2, y2]` or `[[x1, y1, x2, y2]]` (TinyRS, 0-1000 grid), commas and/or spaces between numbers;
    - "tuple": `(x1,y1),(x2,y2)` (Qwen2-VL, 0-1000 grid), spaces allowed, also inside `<|box_start|>...<|box_end|>`;
    - "numbers": the text holds exactly four numbers (Qwen2-VL-Instruct style); apply `normalise_unit_box` when the
      model may answer in [0, 1];
    - "auto": list, then tuple, then numbers.
    Paper syntaxes (the upstream ScoreRS regexes, SPEC 6.2; unsigned numbers only):
    - "tinyrs": `[[a,b,c,d]]` with integers separated by commas/spaces;
    - "qwen2vl": `(a,b),(c,d)` with no spaces;
    - "qwen2vl_list": `[a, b, c, d]`, upstream's reasoning-mode fallback when "qwen2vl" finds nothing: each number
      directly followed by a comma, spaces only after a comma (`[1, 2, 3, 4]`, `[1,2,3,4]`; not `[ 1, 2, 3, 4]`,
      `[1 , 2, 3, 4]`, `[1 2 3 4]` or `[-1, 2, 3, 4]`);
    - "qwen2vl_instruct": exactly four numbers in the text, all scaled by 1000 when all lie in [0, 1].
    Boxes with a non-finite value (a digit run that overflows a float) are skipped. Coordinates are not reordered.

    >>> parse_box("<answer>[[120, 40, 560, 300]]</answer>")
    (120.0, 40.0, 560.0, 300.0)
    >>> parse_box("<|box_start|>(10,20),(30,40)<|box_end|>")
    (10.0, 20.0, 30.0, 40.0)
    >>> parse_box("top-left 0.1, 0.2; bottom-right 0.5, 0.6", "qwen2vl_instruct")
    (100.0, 200.0, 500.0, 600.0)
    """
    if syntax == "list":
        return _first_box(_LIST_RE, text)
    if syntax == "tuple":
        return _first_box(_TUPLE_RE, text)
    if syntax == "numbers":
        numbers = _FREE_NUM_RE.findall(text)
        return _finite_box(numbers) if len(numbers) == 4 else None
    if syntax == "auto":
        return parse_box(text, "list") or parse_box(text, "tuple") or parse_box(text, "numbers")
    if syntax == "tinyrs":
        return _first_box(_TINYRS_RE, text)
    if syntax == "qwen2vl":
        return _first_box(_QWEN2VL_RE, text)
    if syntax == "qwen2vl_list":
        return _first_box(_QWEN2VL_LIST_RE, text)
    if syntax == "qwen2vl_instruct":
        numbers = _UNSIGNED_NUM_RE.findall(text)
        box = _finite_box(numbers) if len(numbers) == 4 else None
        return normalise_unit_box(box) if box is not None else None
    raise ValueError(f"parse_box: syntax must be one of {BOX_SYNTAXES}, got {syntax!r}")


def parse_boxes(text: str) -> list[Box]:
    """Every `[x1, y1, x2, y2]` box in `text`, in order (multi-box detection); boxes with non-finite values dropped.

    >>> parse_boxes("[[1, 2, 3, 4], [5, 6, 7, 8]] and [9 10 11 12]")
    [(1.0, 2.0, 3.0, 4.0), (5.0, 6.0, 7.0, 8.0), (9.0, 10.0, 11.0, 12.0)]
    """
    boxes = (_finite_box(match.groups()) for match in _LIST_RE.finditer(text))
    return [box for box in boxes if box is not None]


def normalise_unit_box(box: Box, grid: float = 1000.0) -> Box:
    """Scale a box given in [0, 1] onto the `grid` (Qwen2-VL-Instruct answers, SPEC 6.2); other boxes unchanged.

    Upstream's rule, reproduced: the box is scaled only when all four values lie in [0, 1], so a genuine grid box
    such as (0, 0, 1, 1) is scaled too; that ambiguity is the protocol's.

    >>> normalise_unit_box((0.1, 0.2, 0.5, 1.0))
    (100.0, 200.0, 500.0, 1000.0)
    >>> normalise_unit_box((10.0, 20.0, 50.0, 100.0))
    (10.0, 20.0, 50.0, 100.0)
    """
    if all(0.0 <= v <= 1.0 for v in box):
        return (box[0] * grid, box[1] * grid, box[2] * grid, box[3] * grid)
    return box


def first_ints(text: str, n: int = 4) -> list[int] | None:
    """The first `n` integers of `text`, or None when there are fewer (TinyRS reward, answer type "2", SPEC 5).

    Reproduces upstream exactly: integers are the `\\d+` runs of the text, so signs are ignored ("-5" gives 5) and
    a decimal splits in two ("12.5" gives 12 and 5). A digit run longer than Python's int-conversion limit (4300
    digits after leading zeros) makes the result None; such a box could never score anyway.

    >>> first_ints("[[12, 30, 400, 512]] and more 7")
    [12, 30, 400, 512]
    >>> first_ints("12.5, -3, 7, 8")
    [12, 5, 3, 7]
    >>> first_ints("only 1 2 3") is None
    True
    """
    runs = re.findall(r"\d+", text)
    if len(runs) < n:
        return None
    try:
        return [int(run.lstrip("0") or "0") for run in runs[:n]]
    except ValueError:
        return None


def first_number(text: str) -> float | None:
    """The first number in `text` (judge scores, counting answers), or None.

    Signed decimals (see the module docstring for what a number is). Upstream's judge parser read unsigned numbers
    (`\\d+(\\.\\d+)?`), so "-3" gave 3 (grpo.judge keeps that for judge_prompt upstream); here it gives -3.0,
    which the judge reward of judge_prompt improved clips to 0.

    >>> first_number("Score: 7.5/10")
    7.5
    >>> first_number("x1 = -2")
    -2.0
    >>> first_number("nan or inf") is None
    True
    """
    match = _FREE_NUM_RE.search(text)
    if not match:
        return None
    try:
        value = float(match.group())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two corner-format boxes; 0.0 when either is degenerate, non-finite, or disjoint.

    >>> box_iou((0, 0, 10, 10), (5, 0, 15, 10))
    0.3333333333333333
    >>> box_iou((0, 0, 10, 10), (10, 0, 20, 10))
    0.0
    """
    if not all(math.isfinite(v) for v in (*a, *b)):
        return 0.0
    if a[2] <= a[0] or a[3] <= a[1] or b[2] <= b[0] or b[3] <= b[1]:
        return 0.0
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    inter_w = min(a[2], b[2]) - max(a[0], b[0])
    inter_h = min(a[3], b[3]) - max(a[1], b[1])
    if inter_w <= 0 or inter_h <= 0:
        return 0.0
    inter = inter_w * inter_h
    union = area_a + area_b - inter
    if not math.isfinite(union) or union <= 0:
        return 0.0
    return min(1.0, max(0.0, inter / union))


def scale_box(box: Box, from_size: tuple[float, float], to_size: tuple[float, float]) -> Box:
    """Map a box from a (width, height) frame to another, e.g. the 0-1000 grid to image pixels: `v * to / from`.

    >>> scale_box((100, 200, 500, 1000), (1000, 1000), (640, 480))
    (64.0, 96.0, 320.0, 480.0)
    """
    if from_size[0] <= 0 or from_size[1] <= 0:
        raise ValueError(f"scale_box: from_size must be positive (width, height), got {from_size}")
    (fw, fh), (tw, th) = from_size, to_size
    # `v * to / from`, in this order, as upstream's ScoreRS scorer computes `p * w / 1000`: `v * (to / from)` rounds
    # differently (380 * (700 / 1000) = 265.99999999999997, not 266.0) and flips IoU ties at exactly 0.5 (SPEC 6.2).
    return (box[0] * tw / fw, box[1] * th / fh, box[2] * tw / fw, box[3] * th / fh)


# The frames a box answer can be given in (SPEC 5, EARTHDIAL 1): the image's own pixels, Qwen2-VL's 0-1000 grid,
# Qwen2.5-VL's resized model input (needs that input's size), EarthDial's 0-100 grid. GeoVLM rewards and eval
# metrics map answers to pixels with this one rule.
BOX_FRAMES = ("pixels", "grid", "input", "grid100")
_GRID_SIDES = {"grid": 1000.0, "grid100": 100.0}


def answer_boxes(text: str) -> list[Box]:
    """Every box of an answer: the list syntaxes `parse_boxes` reads, else the one box `parse_box` finds.

    >>> answer_boxes("[1, 2, 3, 4] and [5, 6, 7, 8]"), answer_boxes("(1,2),(3,4)")
    ([(1.0, 2.0, 3.0, 4.0), (5.0, 6.0, 7.0, 8.0)], [(1.0, 2.0, 3.0, 4.0)])
    """
    boxes = parse_boxes(text)
    if boxes:
        return boxes
    single = parse_box(text, "auto")
    return [single] if single is not None else []


def boxes_to_pixels(
    boxes: Sequence[Box], frame: str, size: Sequence[float] | None, input_size: Sequence[float] | None = None
) -> list[Box]:
    """`boxes` given in `frame` (BOX_FRAMES), in the image's pixels; `size` is the image's [w, h], `input_size` the
    model input's [w, h] (frame "input" only). ValueError names what a frame needs and is missing.

    >>> boxes_to_pixels([(0, 0, 500, 1000)], "grid", [640, 480])
    [(0.0, 0.0, 320.0, 480.0)]
    """
    if frame not in BOX_FRAMES:
        raise ValueError(f"box frame must be one of {BOX_FRAMES}, got {frame!r}")
    if frame == "pixels":
        return list(boxes)
    if not size:
        raise ValueError(f"box frame {frame!r} needs the image 'size' [w, h]")
    source = (_GRID_SIDES[frame],) * 2 if frame in _GRID_SIDES else input_size
    if not source:
        raise ValueError("box frame 'input' needs the model's 'input_size' (written by eval.run)")
    return [scale_box(box, tuple(source), tuple(size)) for box in boxes]


# Characters trimmed from both ends of a label: whitespace, quotes, brackets and sentence punctuation.
_LABEL_TRIM = " \t\r\n\f\v\"'`“”‘’«»()[]{}<>.,;:!?"


def normalise_label(text: str) -> str:
    """Lower-case, collapse whitespace, trim quotes, brackets and punctuation from both ends.

    Inner characters are kept ("dense-residential", "2.5"), so different labels stay different.

    >>> normalise_label('  "Dense   Residential." ')
    'dense residential'
    >>> normalise_label("[Airport]")
    'airport'
    """
    return " ".join(text.lower().strip(_LABEL_TRIM).split())


def split_labels(text: str) -> list[str]:
    """Split a multi-label answer on commas, semicolons, newlines and " and ", normalised, empty items dropped.

    >>> split_labels("Forest, River; bare soil and  Buildings.")
    ['forest', 'river', 'bare soil', 'buildings']
    """
    items = re.split(r"[,;\n]|\sand\s", text, flags=re.IGNORECASE)
    labels = (normalise_label(item) for item in items)
    return [label for label in labels if label]


_YES_NO_RE = re.compile(r"\b(yes|no)\b", re.IGNORECASE)


def parse_yes_no(text: str) -> str | None:
    """ "yes" / "no" from a short answer, or None when it holds neither or both without a leading one.

    The first word decides when it is yes or no ("Yes, there is no road" -> "yes"); otherwise the answer must
    contain only one of the two words as a whole word ("I think the answer is no" -> "no").

    >>> parse_yes_no("Yes.")
    'yes'
    >>> parse_yes_no("The answer is no")
    'no'
    >>> parse_yes_no("maybe") is None
    True
    """
    words = normalise_label(text).split(" ", 1)
    first = words[0].strip(_LABEL_TRIM)
    if first in ("yes", "no"):
        return first
    found = {word.lower() for word in _YES_NO_RE.findall(text)}
    return found.pop() if len(found) == 1 else None


def parse_choice(text: str, choices: str = "ABCDEFGH") -> str | None:
    """The multiple-choice letter of an answer, or None.

    Accepted, in order: the whole answer is one letter ("b", "(B)", "B."); the answer starts with a letter followed
    by ")", "." or ":" ("B. Airport"); a letter in parentheses anywhere ("... so (C)"); "answer/option/choice (is)
    X". Letters are matched in upper case except for a one-letter answer, because a capital "A" or "I" in running
    text is usually a word, not a choice.

    >>> parse_choice("(C) Harbour")
    'C'
    >>> parse_choice("The answer is B.")
    'B'
    >>> parse_choice("A large airport") is None
    True
    """
    letters = "".join(c for c in choices.upper() if c.isalpha())
    if not letters:
        return None
    stripped = text.strip().strip(_LABEL_TRIM)
    if len(stripped) == 1 and stripped.upper() in letters:
        return stripped.upper()
    cls = f"[{re.escape(letters)}]"
    patterns = (
        rf"^\s*\(?({cls})[).:]",
        rf"\(({cls})\)",
        rf"\b(?i:answer|option|choice)\s*(?i:is\s*)?:?\s*\(?({cls})\b",
    )
    for pattern in patterns:
        match = re.search(pattern, text)
        if match:
            return match.group(1)
    return None


def _keyword_list(keywords: Iterable[str] | str) -> list[str]:
    # A bare string is one keyword, not an iterable of characters; empty keywords would match every text.
    items = [keywords] if isinstance(keywords, str) else list(keywords)
    return [k.lower() for k in items if k]


def contains_keyword(text: str, keywords: Iterable[str] | str) -> bool:
    """PAPER protocol (SAMChat, SPEC 5 and 6.1): any keyword is a substring of the lower-cased text.

    Reproduced with its quirks: "paramilitary" and "no military presence" both count as mentions.

    >>> contains_keyword("A PARAMILITARY camp", ["military"])
    True
    >>> contains_keyword("There are no military structures", ["military"])
    True
    """
    lowered = text.lower()
    return any(k in lowered for k in _keyword_list(keywords))


# Negation cues for `mentions_keyword_strict`. "free" negates only as "free of".
_NEGATORS = frozenset("no not without neither nor none never cannot absence absent lack lacks lacking devoid".split())
# Function words that do not use up the negation window ("no signs of any military" is still negated).
_SKIP_WORDS = frozenset("a an the any some of or and other such".split())
# Where a negation's scope ends: sentence punctuation, brackets, contrastive conjunctions, and a comma that opens
# a new clause or noun phrase (a bare comma inside a list, "no tanks, missiles or silos", keeps the scope).
_SCOPE_END_RE = re.compile(
    r"[.;:!?()\[\]\n]"
    r"|,(?=\s*(?:a|an|the|this|these|those|there|it|which|only)\b)"
    r"|\b(?:but|however|although|though|whereas|while|yet|except|instead)\b",
    re.IGNORECASE,
)
_WORD_RE = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
_NON_PREFIX_RE = re.compile(r"\bnon-?\s?$")
_LOOKBACK_CHARS = 160  # bounds the work per keyword hit; a few words never need more


def _negated(text: str, start: int, scope_start: int, window: int) -> bool:
    before = text[max(scope_start, start - _LOOKBACK_CHARS) : start].lower().replace("’", "'")
    if _NON_PREFIX_RE.search(before[-8:]):
        return True
    words = _WORD_RE.findall(before)
    counted = 0
    for i in range(len(words) - 1, -1, -1):
        word = words[i]
        if word in _NEGATORS or word.endswith("n't"):
            return True
        if word == "free" and i + 1 < len(words) and words[i + 1] == "of":
            return True
        if word not in _SKIP_WORDS:
            counted += 1
            if counted >= window:
                return False
    return False


def mentions_keyword_strict(text: str, keywords: Iterable[str] | str, *, window: int = 4) -> bool:
    """STRICT protocol: some keyword occurs as a whole word (plural allowed) and is not negated.

    The rule, precisely:
    1. Whole word, case-insensitive: the keyword (spaces in it match any whitespace), optionally followed by "s" or
       "es", with no letter, digit or underscore directly before or after. "missiles" and "missile-launcher"
       match; "paramilitary" and "silos2" do not.
    2. A hit is negated when it is directly preceded by "non-" / "non " ("non-military"), or when a negation cue
       occurs among the `window` words before it in the same scope. Cues: no, not, without, neither, nor, none,
       never, cannot, absence, absent, lack(s/ing), devoid, "free of", and any word ending in "n't". Function words
       (a, an, the, any, some, of, or, and, other, such) are not counted in the window, so "no visible signs of any
       military" is negated. The look-back is capped at 160 characters, which bounds the cost of each hit.
    3. The scope ends at . ; : ! ? ( ) [ ] or a newline, at but / however / although / though / whereas / while /
       yet / except / instead, and at a comma followed by a, an, the, this, these, those, there, it, which or only.
       "No roads, but a missile battery" is a positive mention.
    4. The text mentions a keyword when at least one hit is not negated.
    Not handled (documented limits): negation after the keyword ("military presence is absent"), double negation,
    and hedges ("possibly a missile site" counts as a mention).

    >>> mentions_keyword_strict("A base with missile silos.", ["military", "missile", "silo"])
    True
    >>> mentions_keyword_strict("There are no military structures.", ["military"])
    False
    """
    words = _keyword_list(keywords)
    if not words:
        return False
    alternatives = "|".join(re.escape(k).replace(r"\ ", r"\s+") for k in sorted(words, key=len, reverse=True))
    pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?:e?s)?(?!\w)", re.IGNORECASE)
    scope_starts: list[int] | None = None
    for hit in pattern.finditer(text):
        if scope_starts is None:
            scope_starts = [m.end() for m in _SCOPE_END_RE.finditer(text)]
        position = bisect.bisect_right(scope_starts, hit.start())
        scope_start = scope_starts[position - 1] if position else 0
        if not _negated(text, hit.start(), scope_start, window):
            return True
    return False
