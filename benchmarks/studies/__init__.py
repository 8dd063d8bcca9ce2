"""The FDRDSynth studies, each a declaration (``STUDY``) and its analysis: run them with
``python -m benchmarks run NAME`` (docs/results.md, "Studies")."""
