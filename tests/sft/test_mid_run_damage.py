"""An image whose damage shows only at full decode (header, chunks and checksums intact, so validation passes it):
under data_policy skip a counted skip during training, under error one line naming file and record, also from a
DataLoader worker; never a traceback mid-run."""

import json
import logging
import os
import shutil
import subprocess
import sys

import pytest
import torch

from common.data import read_llava
from common.data.images import MidRunDataError
from common.modeling import load_processor
from sft.data import SFTCollator, SFTDataset
from tests import faults


@pytest.fixture(scope="module")
def processor(tiny_model_dir):
    return load_processor(tiny_model_dir, padding_side="right")


@pytest.fixture
def damaged(synthetic_dir, tmp_path):
    """The synthetic SAMData train set with record 2's image replaced by a PNG cut inside its pixel data."""
    folder = tmp_path / "train"
    shutil.copytree(synthetic_dir / "samdata" / "train", folder)
    path = folder / "sam_300_reasoning_inst.json"
    records = json.loads(path.read_text())
    records[1]["image"] = "cut.png"
    path.write_text(json.dumps(records))
    faults.png_cut_in_its_data(folder / "cut.png")
    return path


def message(path):
    return (
        f"{path}: record 2 (id 'sam_0001'): {path.parent / 'cut.png'}: unreadable image (image file is truncated "
        "(0 bytes not processed))"
    )


def test_validation_passes_the_image(damaged):
    result = read_llava(str(damaged), str(damaged.parent), policy="error")
    assert len(result.records) == 6


def test_skip_serves_the_next_record_and_counts(damaged, processor, caplog):
    records = read_llava(str(damaged), str(damaged.parent), policy="skip").records
    dataset = SFTDataset(records, processor, max_length=None, data_policy="skip")
    with caplog.at_level(logging.WARNING, logger="common.data.images"):
        item = dataset[1]
        dataset[1]
    assert torch.equal(item["input_ids"], dataset[2]["input_ids"])
    assert [r.getMessage() for r in caplog.records] == [
        f"skipped a record during training (data_policy skip, {n} so far in this process): {message(damaged)}"
        for n in (1, 2)
    ]


def test_error_is_one_line_naming_file_and_record(damaged, processor):
    records = read_llava(str(damaged), str(damaged.parent), policy="error").records
    dataset = SFTDataset(records, processor, max_length=None)
    with pytest.raises(MidRunDataError) as caught:
        dataset[1]
    assert str(caught.value) == message(damaged)


def test_error_from_a_dataloader_worker_keeps_its_one_line(damaged, processor):
    # torch re-raises a worker's exception as type(traceback text): the one-line text must survive.
    records = read_llava(str(damaged), str(damaged.parent), policy="error").records
    dataset = SFTDataset(records[1:2], processor, max_length=None)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=1, num_workers=1, collate_fn=SFTCollator.from_processor(processor)
    )
    with pytest.raises(MidRunDataError) as caught:
        next(iter(loader))
    assert str(caught.value) == message(damaged)


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["skip", "error"])
def test_a_tiny_sft_run_meets_the_image(repo_root, tiny_model_dir, damaged, tmp_path, policy):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "sft.train", "--config", "configs/sft/demo.yaml",
           "--model_name_or_path", str(tiny_model_dir), "--output_dir", str(out), "--data_path", str(damaged),
           "--image_folder", str(damaged.parent), "--max_steps", "2", "--per_device_train_batch_size", "3",
           "--report_to", "none", "--data_policy", policy, "--dataloader_num_workers", "1"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, cwd=repo_root, env=env, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in result.stderr
    if policy == "skip":
        assert result.returncode == 0, result.stderr[-3000:]
        assert "skipped a record during training (data_policy skip, 1 so far in this process)" in result.stderr
        assert (out / "model.safetensors").is_file()
    else:
        assert result.returncode == 1
        errors = [line.split(" ERROR ", 1)[1] for line in result.stderr.splitlines() if " ERROR " in line]
        assert errors == [f"common.cli: bad training data: {message(damaged)}"]
