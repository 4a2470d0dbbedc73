"""A training run as a user states it: the configuration (options, TOML), the runner that
turns a configuration into a run directory, the report of a run, and the search."""
