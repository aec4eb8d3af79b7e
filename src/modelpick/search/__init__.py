"""The search stage, behind `modelpick trial`: choose by evidence. Candidates are trained in
rungs of growing time, asynchronous successive halving promotes the best, every result is
stored in an Optuna study (an RDB: SQLite by default, PostgreSQL for several workers), and the
leaderboard sets each measurement beside the analytic rank. See docs/trial.md."""
