"""What a fitted trial is and how it predicts: the layer the search and the ensemble share.

A trial fits one configuration's pipeline (preprocessing and estimator) on each fold;
the records here (`TrialData`, `TrialOutcome`, `TrialRow`) are what the search hands the
ensemble, and `TabularModel` is the shape every final model takes.
"""
