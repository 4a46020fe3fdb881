"""Sharing alerts with partner agencies: signed bundles out, verified bundles in (docs/alerts.md).

keys: the agency's Ed25519 key pair and the partners it trusts (with their sharing policies);
bundle: canonical bytes, signing, and the checks an incoming bundle must pass; export: findings of
a period -> a bundle under a partner's policy; inbound: import a bundle and turn what is in force
into a partner watch list and partner rules; nightly: the two DAG tasks.
"""
