from tenantmove.runner import main

raise SystemExit(main())
