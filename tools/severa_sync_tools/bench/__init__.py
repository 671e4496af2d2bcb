"""Benchmarks (``make bench``, ``python -m severa_sync_tools.bench``): scripts that print figures and
how they were obtained, never timed tests. One module per benchmark:

- ``soap_read``: one SOAP list read, our streaming reader vs zeep vs bare ``iterparse``;
- ``end_to_end``: a mass update of 100,000 accounts through the real engine, then a quiet re-run;
- ``cold_start``: the import cost of each ``functions/<type>/app.py``;
- ``api_economy``: Severa and Visma.net calls per run, per invoice, after an unknown outcome.

``measure`` runs each case in a fresh interpreter (clean peak RSS), ``replay`` serves one captured
answer to every reader, ``stack`` wires the product against the simulators, ``report`` prints.
Figures and method: docs/benchmarks.md.
"""
