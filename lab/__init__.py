"""Experiments and measurements behind benchmarks/RESULTS.md and benchmarks/notes/: not installed.

Run from the repository root with an installed `restore` (`pip install -e .`):

    python -m lab.whole_photo ../shared/data --split val -o OUT      # whole photos (issue 20)
    python -m lab.speed_suite --data ../shared/data                   # the command line's speed
    python -m lab.gaussian_oracle                                     # solvers against the exact posterior

Each module's docstring gives its command and what it measures; they import the installed
benchmark (`restore.benchmarks`: tasks, methods, baselines, metrics, ...) and each other.
"""
