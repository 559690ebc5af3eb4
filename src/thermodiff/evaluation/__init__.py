"""Evaluation: the bound's unbiased estimators (``estimate``), the reported keys (``evaluate``),
text for people (``report``) and baselines scored on the same data (``baselines``)."""
