"""`python -m offline.synthetic --out DIR [--seed N] [--size small|demo]`: write every synthetic dataset."""

from offline.synthetic.writers import main

if __name__ == "__main__":
    raise SystemExit(main())
