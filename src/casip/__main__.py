"""``python -m casip``: the same command line as ``casip``."""

from casip.cli import main

if __name__ == "__main__":
    main()
