"""`python -m offline.synthetic --out DIR [--seed N] [--size small|demo]`: write every synthetic dataset."""

import argparse
import logging

from offline import synthetic
from offline.synthetic.writers import SIZES, generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.synthetic", description=synthetic.__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", choices=list(SIZES), default="demo")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    print(generate(args.out, seed=args.seed, size=args.size))  # noqa: T201 - CLI output: the data folder
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
