"""Evaluation stage (SPEC 6): declarative tasks, generation backends, pure scorers, reports.

tasks/      registry of Task records: samdata.py, scorers.py (ScoreRS suite), geovlm.py; base.py the record
backends.py hf (transformers generate, left-padded batches) and vllm (optional): batched `generate` for eval,
            streamed `stream` for the web demo, one model load and one decoding path for both
generate.py rows -> <output-dir>/<task>/predictions.jsonl (batched, resumable, failures recorded)
score.py    predictions.jsonl -> metrics under the paper and strict protocols (CLI: python -m eval.score)
report.py   report.md, PNG plots, compare() over checkpoints
run.py      the CLI tying them together: python -m eval.run
"""
