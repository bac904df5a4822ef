"""`python -m fusionbridge` is the same as the `fusionbridge` console script."""

from fusionbridge.cli.main import main

raise SystemExit(main())
