"""EarthDial-Bench, the benchmark GeoVLM-R1 reports on: every task family with EarthDial's prompts, max_new_tokens and
scoring (EARTHDIAL.md 3), on EarthDial's arrow shards (`common.data.read_earthdial`).

Data: `--data-root` is EarthDial's `Eardial_downstream_task_datasets` folder; each task reads the shard folder
`<root>/<shard>` (the `shard` column of `DATASETS`), or `<root>/<task key>` when that is absent. Rows with 2 or 4
images (bi-temporal pairs, MUDS / FMoW series) send every image in order, before the text.

Prompts: the shard's `question` with the edits EarthDial's test scripts make (EARTHDIAL.md 3.x: the referring and
grounding prefixes replaced, the VQA suffix, xBD's `Answer in single word.` glued on), recorded verbatim in the
predictions' `question`. The model is sent that text with its `<image>` placeholders removed, after the images
(Qwen2-VL places images by message parts; EarthDial's InternVL expands the first placeholder).

Scoring: GeoVLM-R1 answers carry `<think>` / `<answer>`; the answer is extracted with
`common.parsing.extract_answer` before scoring (a text without tags, as EarthDial's own outputs, is used whole).
- paper: EarthDial's scorers exactly (`common.earthdial`): token recall after removing spaces (classification,
  multi-label, VQA per type with the sample-weighted `average`), precision over predicted boxes at IoU >= 0.5 with
  any true box by size_group and single / multiple (`acc@0.5_<group>`), xBD detection precision with the angle
  zeroed (`precision@0.25`, `precision@0.5`), ROUGE-1 / ROUGE-L F averaged over the references and NLTK METEOR
  (`rouge1`, `rougeL`, `meteor`), grounding P@t with the 50-box cap and the print-only-if-more-than-one-match rule
  (a value of None when upstream prints nothing). Rows with an `error` are left out.
- strict: exact label match after normalisation, set F1 for multi-label, one-to-one rotated-box matching with
  lenient five-number parsing, a prediction without a box and a failed row each cost one miss.
All values are fractions in [0, 1]. Boxes are read on EarthDial's 0-100 grid (`grid100`), as its scripts do (they
never rescale), so `--box-frame` does not apply here.

`python -m eval.score --task KEY --predictions FILE` also reads EarthDial's own result rows (`answer` plus the
ground-truth fields its test scripts write: `annotation`, `gt_bbox`, `caption0..4`, `groundtruth` + `obj_ids`),
so EarthDial's or GeoVLM-R1's released outputs can be rescored.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from common import earthdial as ed
from common.data import DataError
from common.metrics import exact_match, multilabel_f1
from common.parsing import extract_answer
from common.prompts import DEFAULT_SYSTEM, GEOVLM_R1_SYSTEM

from .base import MissingDataError, PromptOptions, Row, ScoreOptions, Task, error_row, paper_rows

FAMILY = "earthdial"

# Prompt edits of the test scripts (EARTHDIAL.md 3.3, 3.7, 3.2, 3.8). `\\n` is the two characters stored in the
# shards; the replacements put a real newline.
_GEOCHAT_REFER = (
    "[refer] [hr_rgb_0.5] <image> \\n Give me the location of",
    "[refer] [hr_rgb_0.5] <image> \n Give me the location of ",
)
_REFER = (" [refer] [hr_rgb_0.5] <image> \\n ", "[refer] [hr_rgb_0.5] <image> \n Give me the location of ")
_SHIP_REFER = (" [refer] [s1_vh_1] <image> \\n ", "[refer] [s1_vh_1] <image> \n Give me the location of ")
_GROUNDING_PROMPT = (
    "Describe the image in detail. Detect objects location. Describe objects size. Where objects are located?. "
    "Describe relation between objects."
)
_GROUNDING = (
    " [grounding] [hr_rgb_0.5] <image> \\n Describe the image.",
    f"[grounding] [hr_rgb_0.5] <image> \n {_GROUNDING_PROMPT}",
)
_HIT_UAV_GROUNDING = (
    " [grounding] [Inf_thermal_1] <image> \\n Describe the image.",
    f"[grounding] [Inf_thermal_1] <image> \n {_GROUNDING_PROMPT}",
)
VQA_SUFFIX = "Answer the question using a single word."
XBD_SUFFIX = "Answer in single word."


def system_text(options: PromptOptions) -> str:
    # With --reasoning, the system prompt GeoVLM-R1's GRPO stages train under here (common.prompts.GEOVLM_R1_SYSTEM,
    # ours: the think / answer layout and the 0-100 boxes these scorers read), so training and evaluation ask alike.
    return GEOVLM_R1_SYSTEM if options.reasoning else DEFAULT_SYSTEM


def _replace(pair: tuple[str, str]) -> Callable[[str], str]:
    return lambda question: question.replace(*pair)


def _verbatim(question: str) -> str:
    return question


def _vqa(question: str) -> str:
    return f"{question} {VQA_SUFFIX}"


def _xbd_suffix(question: str) -> str:
    return question + XBD_SUFFIX  # no space: glued after the stored closing quote


@dataclass(frozen=True)
class Dataset:
    kind: str  # scoring family: cls, multilabel, vqa, rec, region, caption, change, grounding, xbd_det
    shard: str  # shard folder under the data root
    images: int  # images per row, in column order jpg (1) or jpg_A, jpg_B (2) / .. jpg_D (4)
    max_new_tokens: int
    prompt: Callable[[str], str] = _verbatim
    name: str = ""  # EarthDial's dataset name (its result file's stem)


# key -> dataset; max_new_tokens and prompt edits as EarthDial's test scripts set them (EARTHDIAL.md 3.1-3.8).
DATASETS: dict[str, Dataset] = {
    "earthdial_aid": Dataset("cls", "Classification/AID", 1, 10, name="AID"),
    "earthdial_ucm": Dataset("cls", "Classification/UCM", 1, 10, name="UCM"),
    "earthdial_whu19": Dataset("cls", "Classification/WHU_19", 1, 10, name="WHU_19"),
    "earthdial_bigearthnet": Dataset(
        "multilabel", "Classification/BigEarthNet_RGB/BigEarthNet_test", 1, 500, name="BigEarthNet_RGB"
    ),
    "earthdial_rsvqa_lr": Dataset("vqa", "VQA/RSVQA_LR", 1, 10, _vqa, "RSVQA_LR"),
    "earthdial_rsvqa_hr": Dataset("vqa", "VQA/RSVQA_HRBEN", 1, 10, _vqa, "RSVQA_HR"),
    "earthdial_rec_geochat": Dataset(
        "rec", "Detection/GeoChat_Bench/refer", 1, 100, _replace(_GEOCHAT_REFER), "GeoChat"
    ),
    "earthdial_rec_nwpu": Dataset(
        "rec", "Detection/NWPU_VHR_10/NWPU_VHR_10_test_refer", 1, 100, _replace(_REFER), "NWPU_VHR_10"
    ),
    "earthdial_rec_swimming_pool": Dataset(
        "rec",
        "Detection/Swimming_pool_dataset/Swimming_pool_dataset_test_refer",
        1,
        100,
        _replace(_REFER),
        "Swimming_pool_dataset",
    ),
    "earthdial_rec_tree_crown": Dataset(
        "rec",
        "Detection/urban_tree_crown_detection/urban_tree_crown_detection_test_refer",
        1,
        100,
        _replace(_REFER),
        "urban_tree_crown_detection",
    ),
    "earthdial_rec_ship": Dataset(
        "rec", "Detection/ship_dataset_v0/ship_dataset_v0_refer_test", 1, 100, _replace(_SHIP_REFER), "ship_dataset_v0"
    ),
    "earthdial_region_geochat": Dataset("region", "Detection/GeoChat_Bench/identify", 1, 30, name="GeoChat"),
    "earthdial_region_nwpu": Dataset(
        "region", "Detection/NWPU_VHR_10/NWPU_VHR_10_test_region_captioning", 1, 30, name="NWPU_VHR_10_test"
    ),
    "earthdial_region_hit_uav": Dataset(
        "region", "Detection/HIT_UAV/HIT_UAV_test_region_captioning", 1, 30, name="HIT_UAV_test"
    ),
    "earthdial_region_ship": Dataset(
        "region", "Detection/ship_dataset_v0/ship_dataset_v0_test_region_captioning", 1, 30, name="ship_dataset_v0_test"
    ),
    "earthdial_region_srsdd": Dataset(
        "region", "Detection/SRSDD_V1_0/SRSDD_V1_0_test_region_captioning", 1, 30, name="SRSDD_V1_0_test"
    ),
    "earthdial_region_swimming_pool": Dataset(
        "region",
        "Detection/Swimming_pool_dataset/Swimming_pool_dataset_test_region_captioning",
        1,
        30,
        name="Swimming_pool_dataset_test",
    ),
    "earthdial_region_ucas": Dataset("region", "Detection/UCAS_AOD/UCAS_AOD_region_captioning", 1, 30, name="UCAS_AOD"),
    "earthdial_region_tree_crown": Dataset(
        "region",
        "Detection/urban_tree_crown_detection/urban_tree_crown_detection_region_captioning",
        1,
        30,
        name="urban_tree_crown_detection",
    ),
    "earthdial_cap_nwpu": Dataset(
        "caption",
        "Image_captioning/NWPU_RESISC45_Captions/NWPU_RESISC45_Captions_test",
        1,
        100,
        name="NWPU_RESISC45_Captions",
    ),
    "earthdial_cap_rsicd": Dataset(
        "caption", "Image_captioning/RSICD_Captions/RSICD_Captions_test", 1, 100, name="RSICD_Captions"
    ),
    "earthdial_cap_rsitmd": Dataset(
        "caption", "Image_captioning/RSITMD_Captions/RSITMD_Captions_test", 1, 100, name="RSITMD_Captions"
    ),
    "earthdial_cap_sydney": Dataset(
        "caption", "Image_captioning/sydney_Captions/sydney_Captions_test", 1, 100, name="sydney_Captions"
    ),
    "earthdial_cap_ucm": Dataset(
        "caption", "Image_captioning/UCM_Captions/UCM_Captions_test", 1, 100, name="UCM_captions"
    ),
    "earthdial_grounding_hit_uav": Dataset(
        "grounding", "Grounding_description/HIT_UAV_grounding_test", 1, 300, _replace(_HIT_UAV_GROUNDING), "HIT_UAV"
    ),
    "earthdial_grounding_nwpu": Dataset(
        "grounding", "Grounding_description/NWPU_VHR_10_grounding_test", 1, 100, _replace(_GROUNDING), "NWPU_VHR_10"
    ),
    "earthdial_grounding_swimming_pool": Dataset(
        "grounding",
        "Grounding_description/Swimming_pool_dataset_test_grounding",
        1,
        100,
        _replace(_GROUNDING),
        "Swimming_pool_dataset",
    ),
    "earthdial_grounding_ucas": Dataset(
        "grounding", "Grounding_description/UCAS_AOD_test_grounding", 1, 300, _replace(_GROUNDING), "UCAS_AOD"
    ),
    "earthdial_cc_dubai": Dataset(
        "change", "Change_detection/DUBAICC/Dubai_ChangeDetection_test", 2, 100, name="Dubai_CC"
    ),
    "earthdial_cc_levir": Dataset(
        "change", "Change_detection/LEVIRCC/LEVIR_ChangeDetection_test", 2, 100, name="LEVIR_MCI"
    ),
    "earthdial_cc_muds": Dataset("change", "Change_detection/MUDS/MUDS_ChangeDetection_test", 4, 100, name="MUDS"),
    "earthdial_cc_sysu": Dataset("change", "Change_detection/SYSU", 2, 100, name="SYSU"),
    "earthdial_xbd_caption": Dataset(
        "change", "Change_detection/xBD/test/xBD_test_image_captioning", 2, 50, name="xBD_image_captioning"
    ),
    "earthdial_fmow": Dataset("cls", "Change_detection/FMoW_RGB_Valid", 4, 100, name="FMoW"),
    "earthdial_xbd_set1": Dataset("cls", "Change_detection/xBD/test/xBD_testset_1", 2, 10, name="xBD_testset_1"),
    "earthdial_xbd_set2": Dataset(
        "cls", "Change_detection/xBD/test/xBD_testset_2", 2, 10, _xbd_suffix, "xBD_testset_2"
    ),
    "earthdial_xbd_set3": Dataset(
        "cls", "Change_detection/xBD/test/xBD_testset_3", 2, 10, _xbd_suffix, "xBD_testset_3"
    ),
    "earthdial_xbd_reg_cls1": Dataset(
        "cls", "Change_detection/xBD/test/xBD_reg_cls_testset_1", 2, 10, _xbd_suffix, "xBD_reg_cls_testset_1"
    ),
    "earthdial_xbd_reg_cls2": Dataset(
        "cls", "Change_detection/xBD/test/xBD_reg_cls_testset_2", 2, 10, _xbd_suffix, "xBD_reg_cls_testset_2"
    ),
    "earthdial_xbd_det": Dataset(
        "xbd_det", "Change_detection/xBD/test/xBD_object_detection", 2, 100, name="xBD_object_detection"
    ),
    "earthdial_xbd_rod": Dataset(
        "xbd_det",
        "Change_detection/xBD/test/xBD_referred_object_detection",
        2,
        50,
        name="xBD_referred_object_detection",
    ),
}

BOX_KINDS = ("rec", "xbd_det")  # ground truth is a box string: rows without a five-number box are bad records
IMAGE_COLUMNS = ("jpg", "jpg_A", "jpg_B", "jpg_C", "jpg_D")


def earthdial_question_text(question: str) -> str:
    """The prompt sent after the images: the EarthDial prompt without its `<image>` placeholders."""
    return question.replace("<image>", "")


# ----------------------------------------------------------------------------------------------------------------
# Loading


def _strip_quotes(value: object) -> str:
    # The test scripts write every question / ground-truth string with `.strip('"')`.
    return str(value).strip('"')


def _shard_folder(root: Path, key: str, dataset: Dataset) -> Path:
    for folder in (root / dataset.shard, root / key):
        if folder.exists():
            return folder
    raise MissingDataError(
        root / dataset.shard, None, f"no EarthDial shard for {key} (looked for {dataset.shard}/ and {key}/)"
    )


def record_row(key: str, dataset: Dataset, record, source: str) -> Row:
    """One shard row -> a task row (ground truth in the same fields as EarthDial's result rows)."""
    where = f"{source}: row {record.index}"
    if len(record.images) != dataset.images:
        columns = ", ".join(("jpg",) if dataset.images == 1 else IMAGE_COLUMNS[1 : 1 + dataset.images])
        return error_row(
            str(record.index),
            record.describe(f"expected {dataset.images} image(s) ({columns}), got {len(record.images)}"),
        )
    prompt = dataset.prompt(record.turns[-1].content)
    row: Row = {"id": str(record.index), "image": where, "images": list(record.images), "question": prompt}
    solution = record.solution
    if dataset.kind in ("caption", "change"):
        references = [_strip_quotes(s) for s in solution] if isinstance(solution, list) else [_strip_quotes(solution)]
        row.update(answer=references[0], references=references)
        return row
    if isinstance(solution, list):
        return error_row(str(record.index), record.describe(f"expected one groundtruth string, got {len(solution)}"))
    row["answer"] = _strip_quotes(solution)
    extra = record.extra
    if dataset.kind == "vqa":
        row["vqa_type"] = _strip_quotes(extra.get("ttype", ""))
    if dataset.kind in ("rec", "region"):
        row.update(
            task_type=_strip_quotes(extra.get("ttype", "")), size_group=_strip_quotes(extra.get("size_group", ""))
        )
    if dataset.kind == "grounding":
        obj_ids = extra.get("obj_ids", "")
        row["obj_ids"] = obj_ids if isinstance(obj_ids, str) else json.dumps(obj_ids)
    if dataset.kind in BOX_KINDS and not ed.parse_rotated_boxes(row["answer"]):
        return error_row(str(record.index), record.describe(f"unparseable ground-truth box {row['answer'][:80]!r}"))
    if dataset.kind == "rec" and row["size_group"] not in ed.REFER_SIZE_GROUPS:
        return error_row(str(record.index), record.describe(f"size_group must be one of {ed.REFER_SIZE_GROUPS}"))
    return row


def load_shard(key: str) -> Callable[[str | os.PathLike], list[Row]]:
    dataset = DATASETS[key]

    def load(data_root: str | os.PathLike) -> list[Row]:
        from common.data import read_earthdial  # the arrow-shard reader (datasets.load_from_disk)

        folder = _shard_folder(Path(data_root), key, dataset)
        result = read_earthdial(folder, policy="skip")
        rows = [record_row(key, dataset, record, str(folder)) for record in result.records]
        rows += [error_row(str(p.index), str(p)) for p in result.problems]
        return sorted(rows, key=lambda row: int(row["id"]))

    return load


# ----------------------------------------------------------------------------------------------------------------
# EarthDial's own result rows (rescoring)

# kind -> the ground-truth fields of EarthDial's result rows (EARTHDIAL.md 3.x "Result row").
RESULT_FIELDS = {
    "cls": ("annotation|caption0",),
    "multilabel": ("annotation",),
    "vqa": ("annotation", "vqa_type"),
    "rec": ("gt_bbox", "size_group"),
    "region": ("annotation",),
    "caption": ("caption0", "caption1", "caption2", "caption3", "caption4"),
    "change": ("caption0", "caption1", "caption2", "caption3", "caption4"),
    "grounding": ("groundtruth", "obj_ids"),
    "xbd_det": ("caption0",),
}
# kind -> the metric reports lead with.
HEADLINE = {
    "cls": "accuracy",
    "multilabel": "accuracy",
    "vqa": "average",
    "rec": "acc@0.5_single",
    "region": "rougeL",
    "caption": "rougeL",
    "change": "rougeL",
    "grounding": "rougeL",
    "xbd_det": "precision@0.5",
}


def result_row(kind: str, raw: dict, row_id: str) -> Row:
    """An EarthDial result row -> a predictions row (`prediction` = its `answer`). KeyError names a missing field."""
    for field in RESULT_FIELDS[kind]:
        if not any(name in raw for name in field.split("|")):
            raise KeyError(field.replace("|", " or "))
    row: Row = {"id": row_id, "image": "", "question": raw.get("question", ""), "prediction": str(raw["answer"])}
    if kind in ("caption", "change"):
        references = [str(raw[f"caption{i}"]) for i in range(5)]
        # eval_caption.py: a row whose caption1 is empty is a single-reference row.
        if kind == "change" and not references[1]:
            references = references[:1]
        return {**row, "answer": references[0], "references": references}
    truth = {"rec": "gt_bbox", "grounding": "groundtruth", "xbd_det": "caption0"}.get(kind, "annotation")
    if kind == "cls" and "annotation" not in raw:
        truth = "caption0"  # the change-detection suite's classification sets
    row["answer"] = str(raw[truth])
    for name in ("vqa_type", "size_group", "task_type", "obj_ids"):
        if name in raw:
            row[name] = raw[name] if isinstance(raw[name], str) else json.dumps(raw[name])
    return row


def read_results(kind: str) -> Callable[[str | os.PathLike], list[Row] | None]:
    def read(path: str | os.PathLike) -> list[Row] | None:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        rows = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(path, number, f"invalid JSON ({exc.msg})") from exc
            if not isinstance(raw, dict):
                raise DataError(path, number, "expected a JSON object")
            if "prediction" in raw:
                return None  # our predictions format: eval.generate.read_predictions reads it
            if "answer" not in raw:
                raise DataError(path, number, "neither 'prediction' (rs-r1) nor 'answer' (EarthDial result row)")
            try:
                rows.append(result_row(kind, raw, str(number - 1)))
            except KeyError as exc:
                raise DataError(path, number, f"EarthDial result row lacks the field {exc.args[0]!r}") from exc
        return rows

    return read


# ----------------------------------------------------------------------------------------------------------------
# Scoring


def _scored(rows: Sequence[Row], paper: bool) -> list[tuple[Row, str]]:
    """(row, extracted answer) pairs: the paper protocol leaves failed rows out, the strict one scores them empty."""
    chosen = paper_rows(rows) if paper else list(rows)
    return [(row, "" if row.get("error") else extract_answer(row.get("prediction", ""))) for row in chosen]


def _score_cls(pairs: list[tuple[Row, str]], paper: bool, multilabel: bool) -> dict:
    if paper:
        values = [ed.token_recall(row["answer"], answer) for row, answer in pairs]
    elif multilabel:
        values = [multilabel_f1(answer, row["answer"]) for row, answer in pairs]
    else:
        values = [exact_match(answer, row["answer"]) for row, answer in pairs]
    return {"accuracy": ed.mean(values)}


# The bootstrap intervals (eval.intervals) rescore the average over question types a thousand times: tokenize each
# answer pair once (NLTK's tokenizer is most of the cost).
_cached_token_recall = functools.lru_cache(maxsize=1 << 16)(ed.token_recall)


def _score_vqa(pairs: list[tuple[Row, str]], paper: bool) -> dict:
    score = _cached_token_recall if paper else (lambda reference, candidate: exact_match(candidate, reference))
    return ed.vqa_scores(((row["answer"], answer, row.get("vqa_type", "")) for row, answer in pairs), score)


def _score_rec(pairs: list[tuple[Row, str]], paper: bool) -> dict:
    return ed.refer_precision(
        ((answer, row["answer"], row.get("size_group", "")) for row, answer in pairs), threshold=0.5, strict=not paper
    )


def _score_xbd(pairs: list[tuple[Row, str]], paper: bool) -> dict:
    metrics: dict = {}
    for threshold in (0.25, 0.5):
        result = ed.xbd_precision(((a, row["answer"]) for row, a in pairs), threshold=threshold, strict=not paper)
        metrics[f"precision@{threshold:g}"] = result[f"precision@{threshold:g}"]
        metrics.update(boxes=result["boxes"], malformed_boxes=result["malformed"])
    return metrics


def _caption_metrics(references: list[str], candidate: str, meteor: bool, *, whitespace: bool) -> dict[str, float]:
    if whitespace:  # region captioning and grounding description: raw strings, one reference
        out = ed.rouge_prf(references[0], candidate)
        out["rouge1"], out["rougeL"] = out.pop("rouge1_f"), out.pop("rougeL_f")
        if meteor:
            out["meteor"] = ed.meteor_whitespace(references[0], candidate)
        return out
    rouge1, rouge_l = ed.rouge_multi(candidate, references)
    out = {"rouge1": rouge1, "rougeL": rouge_l}
    if meteor:
        out["meteor"] = ed.meteor_multi(candidate, references)
    return out


def _average(values: list[dict[str, float]]) -> dict[str, float]:
    names = next((list(v) for v in values), ["rouge1", "rougeL"])
    return {name: ed.mean(v[name] for v in values) for name in names}


def _references(row: Row, kind: str) -> list[str]:
    references = list(row.get("references") or [row["answer"]])
    if kind == "change" and (len(references) < 2 or not references[1]):
        references = references[:1]
    return references


def _score_captions(pairs: list[tuple[Row, str]], kind: str, meteor: bool) -> dict:
    whitespace = kind == "region"
    values = [
        _caption_metrics(
            [row["answer"]] if whitespace else _references(row, kind), answer, meteor, whitespace=whitespace
        )
        for row, answer in pairs
    ]
    return _average(values)


def _score_grounding(pairs: list[tuple[Row, str]], paper: bool, meteor: bool) -> dict:
    metrics: dict = {}
    for threshold in (0.5, 0.25):
        result = ed.grounding_precision(
            ((a, row.get("obj_ids", "")) for row, a in pairs), threshold=threshold, strict=not paper
        )
        metrics.update(result)
    # The description part keeps the rows with fewer than 50 boxes in the ground-truth description.
    kept = [
        (row, a) for row, a in pairs if not paper or len(ed.parse_grounding_boxes(row["answer"])) < ed.GROUNDING_BOX_CAP
    ]
    values = [
        _caption_metrics([ed.clean_description(row["answer"])], ed.clean_description(a), meteor, whitespace=True)
        for row, a in kept
    ]
    metrics.update(_average(values))
    metrics["description_rows"] = len(kept)
    return metrics


def _scorer(kind: str, *, paper: bool) -> Callable[[Sequence[Row], ScoreOptions], dict]:
    def score(rows: Sequence[Row], options: ScoreOptions) -> dict:
        pairs = _scored(rows, paper)
        if kind in ("cls", "multilabel"):
            metrics = _score_cls(pairs, paper, kind == "multilabel")
        elif kind == "vqa":
            metrics = _score_vqa(pairs, paper)
        elif kind == "rec":
            metrics = _score_rec(pairs, paper)
        elif kind == "xbd_det":
            metrics = _score_xbd(pairs, paper)
        elif kind == "grounding":
            metrics = _score_grounding(pairs, paper, options.meteor)
        else:
            metrics = _score_captions(pairs, kind, options.meteor)
        metrics["count"] = len(pairs)
        return metrics

    return score


def _make_task(key: str, dataset: Dataset) -> Task:
    return Task(
        key=key,
        family=FAMILY,
        kind=f"earthdial_{dataset.kind}",
        load=load_shard(key),
        user=lambda row, options: earthdial_question_text(row["question"]),
        system=system_text,
        scoring={"paper": _scorer(dataset.kind, paper=True), "strict": _scorer(dataset.kind, paper=False)},
        headline=HEADLINE[dataset.kind],
        max_new_tokens=dataset.max_new_tokens,
        description=f"EarthDial-Bench {dataset.name} ({dataset.kind}, {dataset.images} image(s), EARTHDIAL.md 3)",
        read_results=read_results(dataset.kind),
    )


TASKS = {key: _make_task(key, dataset) for key, dataset in DATASETS.items()}


def prompt_for(key: str, question: str) -> str:
    """The prompt EarthDial's test script builds from a shard question (for snapshot tests and rewards)."""
    return DATASETS[key].prompt(question)


__all__ = ["DATASETS", "TASKS", "prompt_for", "record_row", "result_row", "earthdial_question_text", "PromptOptions"]
