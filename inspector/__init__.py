"""The inspector web app: ranked lists at the port, outcomes and waivers, login, roles and audit.

A face of the project (floor 4): it reads the published lists and staging zones, keeps its own
records (users, outcomes, waivers, audit log) in a database, and never imports Airflow.
"""
