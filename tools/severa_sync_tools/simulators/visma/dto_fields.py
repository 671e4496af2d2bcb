"""The request DTOs' members as Visma's published OpenAPI spec lists them (CustomerUpdateDto,
ProjectUpdateDto, CustomerInvoiceUpdateDto and its lines, InventoryUpdateDto), and their enums.

The simulator refuses a member the spec does not have, naming it and the DTO. Visma.net itself may
ignore an unknown member silently, which is exactly why the simulator must not: a misspelt field
(``projectManager`` for the spec's ``projectManger``) would otherwise be lost without a word.
"""

from __future__ import annotations

from typing import Any

from severa_sync_tools.simulators.visma.wire import BadRequest

CUSTOMER = frozenset(
    {
        "number", "name", "status", "accountReference", "numberOfEmployees", "parentRecordNumber",
        "currencyId", "creditLimit", "creditDaysPastDue", "overrideWithClassValues", "customerClassId",
        "creditTermsId", "printInvoices", "acceptAutoInvoices", "sendInvoicesByEmail",
        "sendDunningLettersViaEMail", "printDunningLetters", "printStatements", "sendStatementsByEmail",
        "printMultiCurrencyStatements", "invoiceToDefaultLocation", "vatRegistrationId", "corporateId",
        "vatZoneId", "gln", "note", "mainAddress", "invoiceAddress", "deliveryAddress", "mainContact",
        "invoiceContact", "deliveryContact", "creditVerification", "statementType", "priceClassId",
        "eInvoiceContract", "defaultPaymentMethod", "glAccounts", "directDebitLines", "attributeLines",
        "overrideNumberSeries", "excludeDebtCollection",
    }
)  # fmt: skip
CUSTOMER_STATUS = frozenset({"Active", "OnHold", "CreditHold", "Inactive", "OneTime"})
#: CustomerUpdateDto's nested W(Dto) members (section 1.3): each arrives as {"value": {...}} whose
#: own members are wrapped again; every member is a string.
ADDRESS = frozenset(
    {"addressLine1", "addressLine2", "addressLine3", "postalCode", "city", "countryId", "county"}
)
CONTACT_INFO = frozenset({"name", "attention", "email", "web", "phone1", "phone2", "fax"})
E_INVOICE_CONTRACT = frozenset({"fInvoiceContractID", "fInvoiceIntermediatorID"})
CUSTOMER_NESTED = {
    "mainAddress": ("AddressUpdateDto", ADDRESS),
    "invoiceAddress": ("AddressUpdateDto", ADDRESS),
    "deliveryAddress": ("AddressUpdateDto", ADDRESS),
    "mainContact": ("ContactInfoUpdateDto", CONTACT_INFO),
    "invoiceContact": ("ContactInfoUpdateDto", CONTACT_INFO),
    "deliveryContact": ("ContactInfoUpdateDto", CONTACT_INFO),
    "eInvoiceContract": ("EInvoiceContractUpdateDto", E_INVOICE_CONTRACT),
}
#: CustomerUpdateDto members whose value is a string (the rest are checked by their own rules).
CUSTOMER_STRINGS = frozenset(
    {
        "number",
        "name",
        "currencyId",
        "customerClassId",
        "creditTermsId",
        "vatRegistrationId",
        "corporateId",
        "vatZoneId",
    }
)

PROJECT = frozenset(
    {
        "projectID", "internalID", "customer", "description", "hold", "template", "status", "defAccount",
        "defSub", "defAccrualAccount", "defAccrualSub", "startDate", "endDate", "billingPeriod",
        "allocationRule", "billingRule", "rateTable", "customerLocation", "note", "branch",
        "projectManger", "projectManagerInternalId", "autoAllocate", "automaticReleaseArDoc",
        "restricEmployees", "restricEquipment", "visibility", "tasks", "employees",
    }
)  # fmt: skip
PROJECT_STATUS = frozenset({"Planned", "Active", "Completed", "Cancelled", "OnHold", "PendingApproval"})

INVOICE = frozenset(
    {
        "customerNumber", "childCustomerNumber", "referenceNumber", "overrideNumberSeries", "documentDate",
        "origInvoiceDate", "documentDueDate", "cashDiscountDate", "creditTermsId", "paymentMethodId",
        "paymentReference", "customerRefNumber", "externalReference", "currencyId", "exchangeRate",
        "customerVatZoneId", "project", "customerProject", "contact", "billingAddress", "invoiceContact",
        "invoiceLines", "taxDetailLines", "invoiceText", "note", "locationId", "branchNumber",
        "cashAccount", "hold", "postPeriod", "financialPeriod", "salesperson", "salesPersonID",
        "startDate", "endDate", "sendToAutoInvoice", "consolidateInvoices",
        "domesticServicesDeductibleDocument", "dontPrint", "dontEmail", "revoked",
        "excludeDebtCollection", "accountingCostRef", "originatorDocRef", "contractDocRef",
        "directDebitMandateId", "debtCollectionCaseNbr", "debtCollectionCaseStatus",
        "debtCollectionCaseType", "debtCollectionCaseUrl", "rotRutDetails",
    }
)  # fmt: skip
INVOICE_LINE = frozenset(
    {
        "operation", "lineNumber", "inventoryNumber", "description", "quantity", "unitPriceInCurrency",
        "manualAmountInCurrency", "discountPercent", "discountAmountInCurrency", "manualDiscount",
        "discountCode", "accountNumber", "subaccount", "vatCodeId", "uom", "taskId", "startDate",
        "endDate", "termStartDate", "termEndDate", "deferralCode", "deferralSchedule", "salesperson",
        "note", "branchNumber", "itemType", "typeOfWork", "domesticServicesDeductible",
    }
)  # fmt: skip


def check_members(body: dict[str, Any], members: frozenset[str], dto: str, where: str = "") -> None:
    """BadRequest naming the first member ``dto`` does not have."""
    for name in body:
        if name not in members:
            raise BadRequest(
                f"The request is invalid: '{where}{name}' is not a member of {dto} (the published spec)."
            )


def check_customer(body: dict[str, Any]) -> None:
    """CustomerUpdateDto: its members, the status enum, strings where the spec has strings, and each
    nested DTO an object of its own members, every one a string."""
    check_members(body, CUSTOMER, "CustomerUpdateDto")
    check_enum(body, "status", CUSTOMER_STATUS, "CustomerUpdateDto")
    for name in CUSTOMER_STRINGS & set(body):
        if not isinstance(body[name], str):
            raise BadRequest(f"The request is invalid: CustomerUpdateDto.{name} must be a string.")
    for name, (dto, members) in CUSTOMER_NESTED.items():
        if name not in body:
            continue
        nested = body[name]
        if not isinstance(nested, dict):
            raise BadRequest(f"The request is invalid: CustomerUpdateDto.{name} must be a {dto} object.")
        check_members(nested, members, dto, f"{name}.")
        for member, value in nested.items():
            if not isinstance(value, str):
                raise BadRequest(f"The request is invalid: {dto}.{member} ({name}) must be a string.")


def check_enum(body: dict[str, Any], name: str, allowed: frozenset[str], dto: str) -> None:
    value = body.get(name)
    if value is not None and value not in allowed:
        raise BadRequest(
            f"The request is invalid: {dto}.{name} {value!r} is not one of {', '.join(sorted(allowed))}."
        )


CREDIT_NOTE = frozenset(
    {
        "customerNumber", "childCustomerNumber", "referenceNumber", "overrideNumberSeries", "documentDate",
        "origInvoiceDate", "currencyId", "exchangeRate", "customerRefNumber", "externalReference",
        "contact", "project", "customerVatZoneId", "hold", "postPeriod", "financialPeriod", "invoiceText",
        "locationId", "salesPersonID", "salesperson", "note", "branchNumber", "cashAccount", "dontPrint",
        "dontEmail", "sendToAutoInvoice", "consolidateInvoices", "invoiceAddress", "invoiceContact",
        "lines", "taxDetails", "applicationLines",
    }
)  # fmt: skip
CREDIT_NOTE_LINE = frozenset(
    {
        "operation", "discountCode", "taskId", "inventoryNumber", "lineNumber", "description", "quantity",
        "unitPriceInCurrency", "manualAmountInCurrency", "accountNumber", "vatCodeId", "uom",
        "discountPercent", "discountAmountInCurrency", "manualDiscount", "subaccount", "salesperson",
        "deferralSchedule", "deferralCode", "termStartDate", "termEndDate", "note", "branchNumber",
    }
)  # fmt: skip
APPLICATION_LINE = frozenset({"operation", "documentType", "refNbr", "amountPaid"})

#: InventoryUpdateDto (reference visma-net-dtos.md 6.2).
INVENTORY = frozenset(
    {
        "inventoryNumber", "status", "type", "description", "itemClass", "postingClass", "vatCode",
        "defaultPrice", "baseUnit", "salesUnit", "purchaseUnit", "expenseAccount", "expenseAccrualAccount",
        "expenseSubaccount", "inventoryAccount", "cogsAccount", "cogsSubaccount",
        "expenseNonTaxableAccount", "expenseEuAccount", "expenseImportAccount", "salesAccount",
        "salesNonTaxableAccount", "salesEuAccount", "salesExportAccount", "salesSubaccount", "body", "note",
        "attributeLines", "crossReferences", "supplierDetails", "packaging", "intrastat",
        "defaultWarehouse", "defaultIssueFrom", "defaultReceiptTo", "kitItem",
    }
)  # fmt: skip
INVENTORY_TYPE = frozenset(
    {
        "NonStockItem", "LaborItem", "ServiceItem", "ChargeItem", "ExpenseItem", "FinishedGoodItem",
        "ComponentPartItem", "SubassemblyItem",
    }
)  # fmt: skip
#: The types of items that are not kept in stock (the rest are stock items).
NON_STOCK_TYPES = frozenset({"NonStockItem", "LaborItem", "ServiceItem", "ChargeItem", "ExpenseItem"})
INVENTORY_STATUS = frozenset(
    {"Active", "NoSales", "NoPurchases", "NoRequest", "Inactive", "MarkedForDeletion", "Unknown"}
)
