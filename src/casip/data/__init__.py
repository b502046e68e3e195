"""Test-data hub: cycler files of every major tester in one schema, summarised and stored.

>>> from casip.data import read
>>> test = read("maccor_001.txt")            # doctest: +SKIP
>>> test.data[["test_time_second", "voltage_volt", "current_ampere"]].head()  # doctest: +SKIP
"""

from casip.data.ingest import detect_format, read
from casip.data.schema import COLUMNS, CyclerTest, Provenance, TestMetadata
from casip.data.store import Store

__all__ = ["COLUMNS", "CyclerTest", "Provenance", "Store", "TestMetadata", "detect_format", "read"]
