"""Evaluation: the bound's unbiased estimators (``estimate``), the importance-weighted bound
(``importance``), the probability-flow ODE's log-density (``flow``), the reported keys
(``evaluate``), text for people (``report``), baselines scored on the same data (``baselines``), and
how work is drawn, shared across processes and reported (``work``)."""
