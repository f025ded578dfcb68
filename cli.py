"""The `restore` command line, runnable from a checkout as `python cli.py ...`: it lives in
restore/cli.py (installed as `restore.cli`, the `restore` script)."""
from restore.cli import main

if __name__ == "__main__":
    main()
