"""severa-sync tooling outside the Lambda layer: the CLI, the local run, the simulators, benchmarks."""
