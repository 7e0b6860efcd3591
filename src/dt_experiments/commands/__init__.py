"""`dt bench`, `dt suite` and `dt sweep`: sub-commands registered with the core `dt` through the entry-point
group `decision_transformer.commands` (pyproject.toml)."""
