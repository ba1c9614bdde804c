"""Synthetic SFT data and preference pairs through any OpenAI-compatible endpoint.

Library entry points (heavy imports stay inside the functions that need them;
nothing here imports Prefect):

- :func:`synth.generate.run_generate` - seed topics -> judged, curated ChatML examples
- :func:`synth.prefs.run_prefs` - prompts -> K candidates -> pairwise judge -> DPO pairs
- :func:`synth.importer.run_import` - CSV chosen/rejected or rankings -> DPO pairs
- :class:`synth.client.LLMClient` - the async client (cache, retries, limits, ledger, budget)
- :func:`synth.server.embedded_server` - the embedded default endpoint (synth.local_server: llguidance-constrained)

Command line: ``python -m synth {generate,prefs,import-prefs,serve} --help``.
"""
