"""Harmonised vocabularies: mapping tables as data (``data/``, with provenance and licence
notices), an operator's overrides under ``$IHUB_HOME/vocab/``, and the one place that
computes harmonised fields for every source (``harmonise``).

    tables.py     read and check the CSV tables (shipped + overrides)
    lookup.py     Vocabularies: the rules mapping one raw value to harmonised values
    harmonise.py  apply the rules to a harvest's columns, count unmapped values
    unmapped.py   every unmapped value of a run, for ``ihub vocab unmapped``
"""

from imaging_hub.indexers.vocab.harmonise import HARMONISED_COLUMNS, harmonise, harmonise_result
from imaging_hub.indexers.vocab.lookup import Vocabularies, load

__all__ = ["HARMONISED_COLUMNS", "Vocabularies", "harmonise", "harmonise_result", "load"]
