"""Procedural remote-sensing scenes and every dataset format of the three papers, for offline tests and the demo.

Every label, caption, answer, box and count is derived from a scene description, never written by hand, so the data
is consistent by construction. Modules, each importing only those before it:

    scenes     scene descriptions, rendering, facts about a scene, `Context` (seeded scene streams)
    text       captions, chain-of-thought replies, questions and answers, the tokenizer corpus
    earthdial  EarthDial-format shards (rotated 0-100 boxes, temporal pairs)
    writers    one writer per upstream format and `generate`, which runs them all

Frames: boxes are `[x1, y1, x2, y2]` corners in pixels of the image as written (x right, y down, north up), except
the TinyRS `{VG}` SFT answers, which use the 0-1000 grid `[[x1,y1,x2,y2]]` (SPEC 6.2). ScoreRS grounding, vhm_grpo
answer type "2" and GeoVLM boxes are all in pixels of the image file they belong to.

Layout written by `generate(out_dir, seed=, size=)` (file names are fixed: tests, docs and the demo use them):

    samdata/train/     train_NNNN.jpg, sam_300_inst.json, sam_300_reasoning_inst.json   (LLaVA JSON, SPEC 2.1)
    samdata/test/      0_NNN.png (positive easy), 1_NNN.png (positive hard), 2_NNN.png (negative)   (SPEC 2.5)
    samdata/grpo/      grpo_NNNN.jpg + metadata.jsonl {file_name, question, solution "1"/"0"}   (SPEC 2.2)
    vhm/               vhm_NNNN.jpg and awkward-mode images (16-bit PNG/TIFF, RGBA, palette) +
                       list_pretrain_corrected.json, list_sft_oversampled.json, list_sft_reasoning_oversampled.json
    vhm_grpo/          DatasetDict.save_to_disk, split train: prompt, image, solution   (SPEC 2.3)
    scorers/           the 12 ScoreRS files of SPEC 2.6, images in scorers/<json stem>/ (one LHRS-Bench record
                       uses `image_path` = "LHRS-Bench_extra", relative to scorers/)
    geovlm/            classification.jsonl, multilabel.jsonl, referring_detection.jsonl, detection.jsonl,
                       captioning.jsonl, vqa.jsonl, counting.jsonl (SPEC 2.4; `task` = the file stem), images in
                       geovlm/images/; records with boxes carry "size": [w, h]
    earthdial/         EarthDial-format arrow shards of every EarthDial-Bench family under
                       Eardial_downstream_task_datasets/ and GRPO training shards under training_set/
                       (offline.synthetic.earthdial: EARTHDIAL_SHARDS lists them; 0-100 rotated boxes)

GeoVLM answers: classification a class name; multilabel comma-separated sorted labels; referring_detection one
`[x1, y1, x2, y2]`; detection `[x1, y1, x2, y2], [x1, y1, x2, y2], ...`; captioning a 4-6 sentence caption; vqa
"yes"/"no"/"rural"/"urban"; counting an integer.

CLI: `python -m offline.synthetic --out DIR [--seed N] [--size small|demo]`.
"""

from offline.synthetic.scenes import KINDS, SCENE_CLASSES, Context, objects_of, render_scene, sample_scene
from offline.synthetic.text import (
    QUESTION_CATEGORIES,
    caption,
    classification_qa,
    cot_reply,
    count_qa,
    detection_qa,
    grid_box,
    multilabel_qa,
    referring_targets,
    rural_urban_qa,
    tokenizer_corpus,
)
from offline.synthetic.writers import (
    GENERATED_GEOVLM_TASKS,
    SCORERS_CLASS_NAMES,
    SCORERS_FILES,
    SIZES,
    generate,
    main,
)

# The package's public names (tests and callers use `from offline import synthetic`); the rest lives in the modules.
__all__ = [
    "GENERATED_GEOVLM_TASKS",
    "KINDS",
    "QUESTION_CATEGORIES",
    "SCENE_CLASSES",
    "SCORERS_CLASS_NAMES",
    "SCORERS_FILES",
    "SIZES",
    "Context",
    "caption",
    "classification_qa",
    "cot_reply",
    "count_qa",
    "detection_qa",
    "generate",
    "grid_box",
    "main",
    "multilabel_qa",
    "objects_of",
    "referring_targets",
    "render_scene",
    "rural_urban_qa",
    "sample_scene",
    "tokenizer_corpus",
]
