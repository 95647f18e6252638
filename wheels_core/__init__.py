"""The ground floor every wheels-jobs process shares: connecting, named queries,
the error vocabulary, unsubscribe tokens and address checks. It imports nothing
of the processes above it (sender, web) or of the operator app (wheels_jobs)."""
