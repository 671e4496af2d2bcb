"""Severa's ``options`` bit sets the declarations pass (severa-soap-api.md in docs/reference)."""

#: Options 0: records inserted or updated, active only (Severa's default for *ChangedSince).
NONE = 0
#: AccountGetOptions/CaseGetOptions/ProductGetOptions IncludeInactive (2): a customer, case or product
#: deactivated in Severa must reach Visma.net as inactive, so "changed" must include inactive records.
INCLUDE_INACTIVE = 2
#: AccountGetOptions ExcludeNotNumbered (4): an account without a number is a prospect, never a
#: customer to transfer (Visma.net customers are keyed by it), so Severa leaves it out.
EXCLUDE_NOT_NUMBERED = 4
ACCOUNTS = INCLUDE_INACTIVE | EXCLUDE_NOT_NUMBERED
