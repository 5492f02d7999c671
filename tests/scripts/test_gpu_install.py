"""The GPU install's pieces agree: the README's commands, pyproject's ranges and `gpu` extra, both locks, and TRL's
supported vLLM range. Whether the commands resolve on PyPI is scripts/check_gpu_install.sh's job (network, minutes;
CI runs it); this file catches an edit to one piece that forgets another, offline, in milliseconds."""

import importlib.metadata
import re
import shutil
import subprocess

import pytest
import tomllib
from packaging.requirements import Requirement

from tests.conftest import REPO_ROOT


def lock(name: str) -> dict[str, str]:
    pins = {}
    for line in (REPO_ROOT / name).read_text().splitlines():
        if line and not line.startswith("#"):
            package, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", package).lower()] = version
    return pins


def requirements(group: str) -> dict[str, Requirement]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    listed = project["dependencies"] if group == "core" else project["optional-dependencies"][group]
    return {Requirement(text).name.lower(): Requirement(text) for text in listed}


def readme_gpu_commands() -> list[str]:
    readme = (REPO_ROOT / "README.md").read_text()
    block = readme.split("<!-- gpu-install:begin -->")[1].split("<!-- gpu-install:end -->")[0]
    return [line.split(" #")[0].strip() for line in block.splitlines() if line.startswith(".venv/bin/pip install")]


GPU, CPU = lock("constraints-gpu.txt"), lock("constraints.txt")


def test_readme_gpu_commands_use_the_gpu_lock():
    commands = readme_gpu_commands()
    # the extras with `gpu`, flash-attn's build tools, flash-attn itself: check_gpu_install.sh runs exactly these
    assert len(commands) == 3
    assert all(command.startswith(".venv/bin/pip install -c constraints-gpu.txt ") for command in commands)
    assert commands[0].endswith('-e ".[sft,grpo,eval,judge,dev,gpu]"')
    assert (
        commands[2]
        == f".venv/bin/pip install -c constraints-gpu.txt --no-build-isolation flash-attn=={GPU['flash-attn']}"
    )


@pytest.mark.parametrize(
    "package, gpu_version, cpu_version",
    [
        ("torch", "2.13.0", "2.14.1"),  # vLLM 0.31.0 pins torch 2.13.0; the CPU lock keeps the newer pair
        ("torchvision", "0.28.0", "0.29.1"),  # torchvision moves with torch
        ("transformers", "5.17.0", "5.24.0"),  # vLLM 0.31.0 needs transformers < 5.18
        ("trl", "1.16.0", "1.16.0"),  # one TRL for both
        ("vllm", "0.31.0", None),  # GPU lock only
        ("flash-attn", "2.8.3.post2", None),  # GPU lock only, built with --no-build-isolation
    ],
)
def test_lock_versions(package, gpu_version, cpu_version):
    assert (GPU.get(package), CPU.get(package)) == (gpu_version, cpu_version)


@pytest.mark.parametrize("package", ["torch", "torchvision", "transformers", "accelerate", "datasets"])
def test_both_locks_satisfy_the_core_ranges(package):
    # pyproject holds ranges, the locks the exact sets: each lock must lie inside every range it installs
    requirement = requirements("core")[package]
    assert requirement.specifier.contains(GPU[package]) and requirement.specifier.contains(CPU[package])


def test_gpu_extra_pins_are_the_gpu_lock():
    # the extra pins exactly (no open range that could drift past what TRL or the lock accept)
    extra = requirements("gpu")
    assert sorted(extra) == ["bitsandbytes", "liger-kernel", "vllm"]
    for name, requirement in extra.items():
        assert str(requirement.specifier) == f"=={GPU[name]}"


def test_gpu_lock_vllm_is_one_trl_supports():
    (trl_vllm,) = (
        Requirement(text) for text in importlib.metadata.requires("trl") if text.startswith("vllm") and "extra" in text
    )
    assert trl_vllm.specifier.contains(GPU["vllm"])
    assert GPU["trl"] == CPU["trl"] == importlib.metadata.version("trl")


def test_check_script_refuses_a_readme_without_the_commands(tmp_path):
    # a README edit that drops the markers must fail the CI step, not let it pass having checked nothing
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO_ROOT / "scripts" / "check_gpu_install.sh", tmp_path / "scripts")
    (tmp_path / "README.md").write_text("## Install on a GPU cluster\n\n    pip install -e .[gpu]\n")
    result = subprocess.run(
        ["bash", "scripts/check_gpu_install.sh"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "found 0 '.venv/bin/pip install' lines between the README's gpu-install markers" in result.stderr
