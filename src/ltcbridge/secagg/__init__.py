"""Secure aggregation of area totals (issue 15): two aggregators, additive secret shares.

Each practice splits every exact count of its release into two additive shares in a prime field
(``field.py``) and seals one to each of two aggregators named in the agreement (``contribute.py``).
Each aggregator keeps the shares it received (``store.py``), the two agree on the practices of a
batch and sum their shares over it (``batch.py``), and only the disclosure step (``disclose.py``)
ever sees an exact area total: it protects the area figures and keeps only those.
docs/secure-aggregation.md tells the whole story.
"""
