from tenantmove.runbook.runner import main

raise SystemExit(main())
