"""``python -m tenantmove.sandbox``: run the sandbox in the foreground."""

from tenantmove.sandbox.process import main

raise SystemExit(main())
