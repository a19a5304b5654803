"""``python -m proxyapi``: the same as the ``proxyapi`` command."""

from proxyapi.cli import main

main()
