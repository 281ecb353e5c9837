"""Person-level data: the only package that sees who people are and what is in their record.

Sources (a bulk export, a GP server's pages), the reader (raw FHIR to canonical entries through
the mappings), the scan (columns of facts), the population (one row per person) and the counting
(people into cubes of true counts) live here. What leaves this package is a `ltcbridge.counts.Cube`,
and the only thing that takes one further is the privacy gate (`ltcbridge.disclosure.gate`).
The import rules in `.importlinter`, checked in CI, keep the feed, the hub and the disclosure
engine from importing anything here.
"""
