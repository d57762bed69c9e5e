"""Names shared by every layer: the abstention label and the columns of the score and label tables."""

from __future__ import annotations

# The explicit label of an abstention: a classifier that cannot tell writes this label, never no row.
UNKNOWN = "unknown"

# scores.parquet: one row per (image, classifier, attribute, label).
SCORE_COLUMNS = ("record_id", "classifier", "attribute", "label", "prob")
# measurements.parquet: raw numbers that are not probabilities (ITA degrees, cosines, face counts).
MEASUREMENT_COLUMNS = ("record_id", "classifier", "measurement", "value")
# embeddings.parquet: one image embedding per (record, classifier), for the diversity statistics.
EMBEDDING_COLUMNS = ("record_id", "classifier", "embedding")

# Columns of the per-image labels table that come from the scores and the generation records.
IMAGE_COLUMNS = ("record_id", "item_id", "seed", "classifier", "attribute", "label", "prob")
# Columns the labels table takes from each probe item besides its attributes.
PROBE_COLUMNS = ("suite", "prompt", "template", "pair_id", "group", "reference")
# Names a probe attribute may not take in the labels table (it gets the prefix ``item_`` instead).
RESERVED_COLUMNS = frozenset(IMAGE_COLUMNS + PROBE_COLUMNS)

# The kinds of images a classifier is made for and a generator makes (its *domain*). A classifier whose domain
# does not hold the kind a run's generator makes is out of its domain there: its attributes are recorded but
# not judged.
PHOTOGRAPHS = "photographs"
GENERATED = "generated images"  # photorealistic images a generative model made
SANDBOX = "sandbox renders"  # the sandbox world's drawn 32x32 portraits
IMAGE_DOMAINS = (PHOTOGRAPHS, GENERATED, SANDBOX)
