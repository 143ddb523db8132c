"""Per-phase functions: what each notebook's cells call. Each returns objects that show themselves
(plans, outcomes, summaries); the notebook stays a short, readable procedure."""
