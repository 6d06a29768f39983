"""Connectors: pull each source system and land it raw in the warehouse with dlt.

Plain Python on purpose: nothing here imports Dagster, so every connector can be run
and tested from a shell (`ltc ingest <system>`) or a plain pytest test.
"""
