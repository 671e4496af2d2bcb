"""The data types, one module each (see ``model.py`` for what a declaration says).

Adding a data type: a module here with its ``DataType``, listed in ``DATA_TYPES``; its mapping or
writer in the target; its function folder (docs/architecture.md, "Adding a data type").
"""

from severa_sync.datatypes.absences import ABSENCES
from severa_sync.datatypes.accounts import ACCOUNTS
from severa_sync.datatypes.cases import CASES
from severa_sync.datatypes.hour_entries import HOUR_ENTRIES
from severa_sync.datatypes.invoices import INVOICES
from severa_sync.datatypes.model import DataType
from severa_sync.datatypes.payments import PAYMENTS
from severa_sync.datatypes.products import PRODUCTS

#: In the order the demo runs them (dependencies first is checked by ``registry.run_order``).
DATA_TYPES: tuple[DataType, ...] = (ACCOUNTS, CASES, PRODUCTS, INVOICES, HOUR_ENTRIES, ABSENCES, PAYMENTS)
