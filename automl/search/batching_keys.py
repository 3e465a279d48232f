"""Keys of a batched Tune trial's config, shared by the searcher (driver) and the workers."""

BATCH_KEY = "batch"  # the configurations of one Tune trial
IDS_KEY = "ids"  # one id per configuration of the batch: the leaderboard's trial ids
EXPECTED_KEY = "expected_s"  # per configuration: seconds its family is expected to take (None: no idea yet)
