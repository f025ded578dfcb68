"""The benchmark `restore bench` runs (installed as `restore.benchmarks`).

bench (suites, rows, the command), tasks (degradations: `Case`, `make_case`), datasets, methods
(diffusion specs), baselines (the classical methods and their tuning), metrics (PSNR, SSIM, peak
memory, paired intervals), report (markdown tables and grids) and choose_and_report (issue 22:
choose on val, score on test, report margins with paired intervals:
`python -m restore.benchmarks.choose_and_report choose|run|report`).

One-off experiments and measurements (speed, whole photos, peers, oracle checks, ...) are not part
of the package: they live in the repository's `lab/` folder (`python -m lab.NAME` from the
repository root). Their rows and notes stay in benchmarks/ (RESULTS.md, notes/, whole-photo/, ...).
"""
