"""`python -m eval.score` on hand-written predictions files, and the report built from metrics."""

import json

import pytest

from eval import score
from eval.report import compare, markdown, write_report

SAMDATA_LINES = [
    {"id": "0_a.png", "image": "0_a.png", "question": "q", "answer": "", "prediction": "A missile site."},
    {"id": "1_b.png", "image": "1_b.png", "question": "q", "answer": "", "prediction": "No military structures."},
    {"id": "2_c.png", "image": "2_c.png", "question": "q", "answer": "", "prediction": "Farmland."},
    {"id": "2_d.png", "image": "2_d.png", "question": "q", "answer": "", "prediction": "", "error": "boom"},
]


def _write(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_score_cli_both_protocols(tmp_path, capsys):
    path = _write(tmp_path / "predictions.jsonl", SAMDATA_LINES)
    assert score.main(["--task", "samdata", "--predictions", str(path), "--protocol", "both"]) == 0
    captured = capsys.readouterr()
    output = json.loads(captured.out)
    assert set(output) == {"paper", "strict"}
    assert (output["paper"]["tp"], output["paper"]["fp"], output["paper"]["tn"]) == (2, 0, 1)
    assert (output["strict"]["tp"], output["strict"]["fn"], output["strict"]["fp"]) == (1, 1, 1)
    assert "1 of 4 rows are failed samples" in captured.err


def test_score_cli_single_protocol(tmp_path, capsys):
    rows = [
        {"id": "0", "image": "a.jpg", "question": "q", "answer": "forest", "prediction": ""},
        {"id": "1", "image": "b.jpg", "question": "q", "answer": "river", "prediction": "River"},
    ]
    path = _write(tmp_path / "p.jsonl", rows)
    assert score.main(["--task", "cls_aid", "--predictions", str(path), "--protocol", "paper"]) == 0
    # Every sample right (the paper rule takes an empty answer as right): the interval is the point, [1, 1].
    assert json.loads(capsys.readouterr().out) == {"accuracy": 1.0, "count": 2, "ci95": {"accuracy": [1.0, 1.0]}}
    assert score.main(["--task", "cls_aid", "--predictions", str(path), "--protocol", "strict"]) == 0
    # One of two right: resamples score 0, 0.5 or 1 (1/4, 1/2, 1/4), so the 2.5 / 97.5 percentiles are 0 and 1.
    assert json.loads(capsys.readouterr().out) == {"accuracy": 0.5, "count": 2, "ci95": {"accuracy": [0.0, 1.0]}}
    assert (
        score.main(["--task", "cls_aid", "--predictions", str(path), "--protocol", "strict", "--resamples", "0"]) == 0
    )
    assert json.loads(capsys.readouterr().out) == {"accuracy": 0.5, "count": 2}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--task", "rs_vg"], "--prompt-style is required"),
        (["--task", "cls_aid", "--predictions", "/nonexistent.jsonl"], "nonexistent.jsonl"),
    ],
)
def test_score_cli_errors(tmp_path, capsys, argv, message):
    if "--predictions" not in argv:
        argv = [*argv, "--predictions", str(_write(tmp_path / "p.jsonl", []))]
    assert score.main(argv) in (1, 2)
    assert message in capsys.readouterr().err


def test_score_cli_missing_field(tmp_path, capsys):
    path = _write(tmp_path / "p.jsonl", [{"id": "0", "prediction": "x"}])
    assert score.main(["--task", "cls_aid", "--predictions", str(path)]) == 1
    assert "lacks the field 'answer'" in capsys.readouterr().err


def _metrics(f1, paper_model=None):
    samdata = {
        "tp": 1, "fp": 0, "tn": 1, "fn": 1, "precision": 1.0, "recall": 0.5, "f1": f1, "accuracy": 2 / 3,
        "per_category": {"0": {"correct": 1, "total": 1}, "1": {"correct": 0, "total": 1},
                         "2": {"correct": 1, "total": 1}},
    }  # fmt: skip
    vqa = {"accuracy": 0.5, "count": 2}
    return {
        "model": "ckpt",
        "paper_model": paper_model,
        "tasks": {
            "samdata": {
                "paper": samdata,
                "strict": samdata,
                "errors": 1,
                "samples": 3,
                "error_messages": ["image unreadable: /x/2_c.png"],
            },
            **{k: {"paper": vqa, "strict": {"accuracy": 0.25}, "errors": 0} for k in ("vqa_LR-comp", "vqa_LR-pre")},
            "vqa_LR-rural": {"paper": {"accuracy": 0.8}, "strict": {"accuracy": 0.7}, "errors": 0},
        },
    }


def test_report_markdown_and_plots(tmp_path):
    text = markdown(_metrics(0.6667, paper_model="samchat_r1"))
    # No ci95 in these metrics (an older metrics.json, or --resamples 0): bare figures, nothing to check against.
    assert "| samdata | precision | 1.0000 | 1.0000 | 0.98 | - | 1 |" in text
    assert "| samdata | recall | 0.5000 | 0.5000 | > 0.80 | - | 1 |" in text
    assert "| vqa_LR-comp | accuracy | 0.5000 | 0.2500 | not published here | - | 0 |" in text
    assert "| RSVQA-LR average | accuracy | 0.6000 | 0.4000 | not published here | - | 0 |" in text
    assert "- samdata: 1 of 3: image unreadable: /x/2_c.png" in text
    paths = write_report(_metrics(0.5), tmp_path)
    assert [p.name for p in paths] == ["report.md", "tasks.png", "samdata_confusion.png"]
    assert all(p.stat().st_size > 1000 for p in paths[1:])
    assert (tmp_path / "tasks.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_shows_intervals_and_whether_the_papers_figure_lies_inside():
    metrics = _metrics(0.6667, paper_model="samchat_r1")
    samdata = metrics["tasks"]["samdata"]
    samdata["paper"] = {**samdata["paper"], "ci95": {"precision": [0.9, 1.0], "recall": [0.2, 0.75]}}
    samdata["strict"] = {**samdata["strict"], "ci95": {"precision": [0.5, 1.0]}}
    text = markdown(metrics)
    assert "| samdata | precision | 1.0000 [0.9000, 1.0000] | 1.0000 [0.5000, 1.0000] | 0.98 | yes | 1 |" in text
    # "> 0.80" against [0.2, 0.75]: no value of the interval exceeds the bound.
    assert "| samdata | recall | 0.5000 [0.2000, 0.7500] | 0.5000 | > 0.80 | no | 1 |" in text


@pytest.mark.parametrize(
    ("published", "bounds", "expected"),
    [
        ("0.98", [0.9, 1.0], "yes"),
        ("0.98", [0.9, 0.97], "no"),
        ("0.9", [0.9, 0.95], "yes"),  # the ends belong to the interval
        ("> 0.80", [0.7, 0.81], "yes"),
        ("> 0.80", [0.7, 0.8], "no"),
        ("< 0.1", [0.05, 0.2], "yes"),
        ("0.98", None, "-"),
        ("not published here", [0.0, 1.0], "-"),
        ("about a half", [0.0, 1.0], "-"),
    ],
)
def test_paper_inside(published, bounds, expected):
    from eval.report import paper_inside

    assert paper_inside(published, bounds) == expected


def test_a_new_family_brings_its_headline_metric_in_its_task_record(monkeypatch):
    import dataclasses

    from eval import report
    from eval.tasks import TASKS

    # A family report.py has never heard of: its Task record alone says what sums it up.
    task = dataclasses.replace(TASKS["cls_aid"], key="new_task", family="new_family", kind="new_kind", headline="bleu")
    monkeypatch.setitem(TASKS, "new_task", task)
    metrics = {"tasks": {"new_task": {"paper": {"bleu": 0.25}, "strict": {"bleu": 0.125}, "errors": 0}}}
    assert report.table_rows(metrics) == [("new_task", "bleu", 0.25, 0.125, 0)]
    assert report.headline("gone_task") == "accuracy"  # a metrics.json naming a task no longer registered


def test_compare_checkpoints(tmp_path):
    files = {}
    for name, f1 in (("base", 0.25), ("grpo", 0.75)):
        files[name] = tmp_path / f"{name}.json"
        files[name].write_text(json.dumps(_metrics(f1)))
    table = compare(files)
    assert table.splitlines()[0] == "| task | metric | base | grpo |"
    assert "| samdata | f1 | 0.2500 | 0.7500 |" in table
    assert "| vqa_LR-rural | accuracy | 0.8000 | 0.8000 |" in compare(files, protocol="paper")
    assert "| vqa_LR-rural | accuracy | 0.7000 | 0.7000 |" in compare(files, protocol="strict")


def test_score_cli_says_how_many_rows_it_scored(tmp_path, capsys):
    path = _write(tmp_path / "p.jsonl", SAMDATA_LINES)
    assert score.main(["--task", "samdata", "--predictions", str(path)]) == 0
    assert f"scored 4 rows of {path} (task samdata)" in capsys.readouterr().err


def test_score_cli_refuses_a_duplicated_row(tmp_path, capsys):
    # Two runs appending to one file: counting the sample twice would change every ratio without a word.
    path = _write(tmp_path / "p.jsonl", [*SAMDATA_LINES, SAMDATA_LINES[1]])
    assert score.main(["--task", "samdata", "--predictions", str(path)]) == 1
    err = capsys.readouterr().err
    assert err == f"error: {path}: record 5: duplicate id '1_b.png', already in record 2: one row per sample\n"


def test_score_cli_names_a_cut_short_last_line_and_scores_the_rest(tmp_path, capsys):
    path = _write(tmp_path / "p.jsonl", SAMDATA_LINES[:3])
    path.write_text(path.read_text() + json.dumps(SAMDATA_LINES[3])[:25])  # killed mid-write
    assert score.main(["--task", "samdata", "--predictions", str(path)]) == 0
    err = capsys.readouterr().err
    assert f"note: {path}: line 4 is incomplete (the file ends inside it: a write cut short) and was not scored" in err
    assert "will be regenerated" not in err and f"scored 3 rows of {path}" in err


def test_score_cli_refuses_an_empty_file(tmp_path, capsys):
    path = tmp_path / "p.jsonl"
    path.write_text("")
    assert score.main(["--task", "samdata", "--predictions", str(path)]) == 1
    assert capsys.readouterr().err == f"error: {path}: no prediction rows to score\n"
