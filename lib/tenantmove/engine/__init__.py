"""The engine and the ledger: where every workload is planned, applied, recorded and verified."""

from .engine import Engine, Gate
from .ledger import Done, Item, Ledger, LedgerError, PlanCounts, Planned
from .manual import ps_quote
from .outcome import ItemsFailed, Outcome
from .workload import Applied, DeltaLinks, ManualStep, Work, Workload

__all__ = ["Applied", "DeltaLinks", "Done", "Engine", "Gate", "Item", "ItemsFailed", "Ledger", "LedgerError",
           "ManualStep", "Outcome", "PlanCounts", "Planned", "Work", "Workload", "ps_quote"]
