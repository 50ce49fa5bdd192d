"""`python -m bot ...` is the same as the `aftercare` command."""

from bot.cli import main

main()
