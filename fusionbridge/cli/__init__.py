"""The command line: argparse → one command → an exit status."""
