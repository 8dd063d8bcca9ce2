"""Building FDRD-style caption files for a new domain (docs/captioning.md): ``build.py`` (the
pipeline and its command line), ``backends.py`` (the VLMs), ``prompts.py``, ``postprocess.py``,
``store.py`` (resumable work file), ``report.py``."""
