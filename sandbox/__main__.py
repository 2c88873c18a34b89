"""`python -m sandbox`: run the sandbox server."""

from sandbox.cli import main

main()
