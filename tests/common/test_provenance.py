"""The run record and the model card written beside every trained model (common.provenance)."""

import hashlib
import logging
from dataclasses import dataclass, field

import yaml
from huggingface_hub import ModelCard

from common.provenance import (
    CARD_FILE,
    RUN_FILE,
    RunInfo,
    add_eval_to_card,
    fingerprint,
    read_run_record,
    resolved_config,
    write_model_card,
    write_run_record,
)


@dataclass
class Script:
    iou_mode: str = "correct"
    reward_funcs: list = field(default_factory=lambda: ["format", "tinyrs_accuracy"])
    judge_api_key: str | None = "sk-secret"
    hub_token: str | None = None


def run_info(tmp_path, recipe="configs/grpo/tinyrs_r1.yaml", **script):
    data = tmp_path / "train.jsonl"
    data.write_text('{"a": 1}\n')
    return RunInfo(
        stage="grpo",
        groups={"script": Script(**script)},
        base_model="aybora/Qwen2-VL-TinyRS-CoT",
        data=[str(data), "aybora/VHM_dataset_grpo"],
        records=1,
        command=["--config", recipe, "--learning_rate", "1e-6"],
    )


def test_resolved_config_keeps_every_field_and_hides_secrets():
    config = resolved_config({"script": Script()})
    assert config == {
        "script": {
            "hub_token": None,  # unset: nothing to hide
            "iou_mode": "correct",
            "judge_api_key": "<hidden>",
            "reward_funcs": ["format", "tinyrs_accuracy"],
        }
    }


def test_fingerprint_of_a_file_a_folder_and_a_hub_id(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "b.jpg").write_bytes(b"xy")
    (tmp_path / "d" / "sub" / "a.jpg").write_bytes(b"z")
    (tmp_path / "f.json").write_bytes(b"[]")
    file, folder, hub = fingerprint([tmp_path / "f.json", tmp_path / "d", "aybora/SAMData-300-Train", None])
    assert file == {"path": str(tmp_path / "f.json"), "bytes": 2, "sha256": hashlib.sha256(b"[]").hexdigest()}
    listing = hashlib.sha256(b"b.jpg\t2\nsub/a.jpg\t1\n").hexdigest()  # names and sizes, files not read
    assert folder == {"path": str(tmp_path / "d"), "files": 2, "bytes": 3, "listing_sha256": listing}
    assert hub == {"path": "aybora/SAMData-300-Train", "hub": True}


def test_run_record_appends_launches_and_warns_when_the_configuration_changes(tmp_path, caplog):
    out = tmp_path / "out"
    write_run_record(out, run_info(tmp_path))
    with caplog.at_level(logging.WARNING):
        write_run_record(out, run_info(tmp_path, iou_mode="upstream"))
    record = read_run_record(out)
    assert [launch["config"]["script"]["iou_mode"] for launch in record["launches"]] == ["correct", "upstream"]
    launch = record["launches"][0]
    assert launch["recipe"] == "configs/grpo/tinyrs_r1.yaml" and launch["stage"] == "grpo"
    assert launch["command"] == ["--config", "configs/grpo/tinyrs_r1.yaml", "--learning_rate", "1e-6"]
    assert len(launch["git"]["commit"]) == 40 and isinstance(launch["git"]["dirty"], bool)
    assert launch["versions"]["transformers"] and launch["versions"]["torch"]
    assert launch["data"]["records"] == 1 and launch["data"]["sources"][1] == {
        "path": "aybora/VHM_dataset_grpo",
        "hub": True,
    }
    assert "differs from the previous launch" in caplog.text
    assert "sk-secret" not in (out / RUN_FILE).read_text()


def test_model_card_metadata_and_citation(tmp_path):
    out = tmp_path / "tinyrs_r1"
    run = run_info(tmp_path)
    write_run_record(out, run)
    card = ModelCard.load(write_model_card(out, run))
    assert card.data.base_model == "aybora/Qwen2-VL-TinyRS-CoT"
    assert card.data.datasets == ["aybora/VHM_dataset_grpo"]  # the local file is in the text, not the metadata
    assert card.data.tags == ["rs-r1", "grpo", "remote-sensing", "qwen2-vl", "TinyRS-R1"]
    assert card.data.pipeline_tag == "image-text-to-text"
    assert "TinyRS-R1: Compact Vision Language Model for Remote Sensing" in card.text
    assert f"`{tmp_path / 'train.jsonl'}` (9 bytes)" in card.text


def test_eval_adds_metrics_to_our_card_only(tmp_path):
    out = tmp_path / "samchat_r1"
    run = run_info(tmp_path, recipe="configs/grpo/samchat_r1.yaml")
    write_model_card(out, run)
    metrics = {
        "data_root": "/data/test",
        "tasks": {"samdata": {"paper": {"f1": 0.8}, "strict": {"f1": 0.75}, "samples": 403}},
    }
    assert add_eval_to_card(out, metrics, {"samdata": "f1"})
    card = ModelCard.load(out / CARD_FILE)
    assert "| samdata | f1 | 0.8000 | 0.7500 | 403 |" in card.text
    assert "Not evaluated yet" not in card.text and "SAMChat: Introducing" in card.text
    meta = yaml.safe_load(card.content.split("---")[1])
    assert meta["model-index"][0]["results"][0]["metrics"][0]["value"] == 0.8
    # Evaluating again replaces the table instead of adding a second one.
    metrics["tasks"]["samdata"]["paper"]["f1"] = 0.9
    add_eval_to_card(out, metrics, {"samdata": "f1"})
    text = (out / CARD_FILE).read_text()
    assert text.count("| samdata | f1 |") == 1 and "0.9000" in text
    # A card that rs-r1 did not write is left alone.
    other = tmp_path / "other"
    other.mkdir()
    (other / CARD_FILE).write_text("---\nlicense: mit\n---\n# someone's model\n")
    assert not add_eval_to_card(other, metrics, {"samdata": "f1"})
    assert (other / CARD_FILE).read_text() == "---\nlicense: mit\n---\n# someone's model\n"
