"""The experiment harness every study runs on (docs/results.md, "Studies"): :mod:`.runner` makes or
finds each run (by its identity), :mod:`.records` keeps what a report needs of each run in the
repository, :mod:`.analysis` turns paired differences into verdicts, :mod:`.render` writes tables
from data, and :mod:`.study` declares what a study is."""
