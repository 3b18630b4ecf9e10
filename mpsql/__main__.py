"""python -m mpsql"""

from mpsql.cli.main import main

raise SystemExit(main())
