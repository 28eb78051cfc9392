"""Every benchmark and evaluator: speed, long takes, interpolation, families, watermark, world adherence,
verbs, recipe search."""
