"""Severa's ``options`` bit sets the declarations pass (severa-soap-api.md in docs/reference)."""

#: Options 0: records inserted or updated, active only (Severa's default for *ChangedSince).
NONE = 0
#: AccountGetOptions/CaseGetOptions/ProductGetOptions IncludeInactive (2): a customer, case or product
#: deactivated in Severa must reach Visma.net as inactive, so "changed" must include inactive records.
INCLUDE_INACTIVE = 2
#: AccountGetOptions ExcludeNotNumbered (4): an account without a number is a prospect, never a
#: customer to transfer (Visma.net customers are keyed by it), so Severa leaves it out.
EXCLUDE_NOT_NUMBERED = 4
#: AccountGetOptions CheckAddressChanges (64): a customer whose address changed counts as changed
#: (an address carries no change time of its own, and a customer's UpdatedTS does not move with it),
#: so an address change reaches Visma.net although the customer itself did not change.
CHECK_ADDRESS_CHANGES = 64
ACCOUNTS = INCLUDE_INACTIVE | EXCLUDE_NOT_NUMBERED | CHECK_ADDRESS_CHANGES
#: AddressGetOptions IncludeAddressesOfInactiveAccounts (2): an inactive customer keeps its address.
INCLUDE_ADDRESSES_OF_INACTIVE_ACCOUNTS = 2
