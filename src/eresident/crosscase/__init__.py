"""Cross-region cases: a service filed in one region and handled in another, under one case number."""
