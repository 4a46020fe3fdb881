"""Pre-loading assessment: one declaration answered in milliseconds, as the night would score it.

`engine` holds the scoring path (the night's own functions, kept loaded), `store` the assessments
zone (SQLite: assessments, rejections, tokens, audit), `service` the FastAPI face and `intraday`
the batch path the hourly DAG calls. See docs/assess.md and decision 0024.
"""
