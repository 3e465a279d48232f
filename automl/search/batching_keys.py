"""Keys of a batched Tune trial's config, shared by the searcher (driver) and the workers."""

BATCH_KEY = "batch"  # the configurations of one Tune trial
IDS_KEY = "ids"  # one id per configuration of the batch: the leaderboard's trial ids
EXPECTED_KEY = "expected_s"  # per configuration: seconds its family is expected to take (None: no idea yet)
REPORT_FOLDS_KEY = "report_folds"  # a scheduler's trial (one configuration) reports each fold as it ends
PARTIAL_KEY = "partial"  # in a fold's report: why the trial ends there if its scheduler stops it
