"""``python -m walletops`` runs the command line."""

from walletops.cli import main

main()
