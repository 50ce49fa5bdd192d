"""Baselines the bench compares us with (``aftercare bench``)."""
