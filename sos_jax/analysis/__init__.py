"""SOS-Bench meta-analysis: ingest results and leaderboards, factor scores with CIs,
leaderboard-vs-factor correlations, and the report (`report.analyze`)."""
