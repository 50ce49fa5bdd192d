"""``aftercare bench``: measured figures, each beside its target or comparison.

One module per figure (``throughput``, ``at_limit``, ``latency``, ``scale``, ``memory``,
``triage``); ``runner`` runs them in order and ``report`` prints and writes them. Every
number comes from the run itself; nothing here is typed in.
"""
