"""`python -m tdxray`: the same as the `tdxray` command."""

from tdxray.cli.main import main

main()
