"""Severa's SOAP contract as data: the single source for the bundled WSDL, the simulator and tests.

Generated once from ``docs/reference/severa-soap-contract.md`` appendices A and B (the <=2019 WSDL
reconstructed from a svcutil proxy of the live service) and kept by hand since. Member order is the
XML order WCF emits (ordinal-alphabetical, explicit ``Order`` last). Type notation: ``T?`` nillable
value type, ``X[]`` array (``ArrayOfX``), entity names refer to ``ENTITIES``. Every member is
``minOccurs="0"``; strings, arrays, entities and ``T?`` are ``nillable`` (WCF DataContract defaults).
"""

from __future__ import annotations

from dataclasses import dataclass

NS_SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
NS_SEVERA = "http://soap.severa.com/"
NS_ENTITIES = "http://schemas.datacontract.org/2004/07/Severa.Entities.API"
NS_API = "http://schemas.datacontract.org/2004/07/Severa.API"
NS_ARRAYS = "http://schemas.microsoft.com/2003/10/Serialization/Arrays"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"

XSD_SIMPLE = {
    "string": "xs:string",
    "dateTime": "xs:dateTime",
    "decimal": "xs:decimal",
    "long": "xs:long",
    "int": "xs:int",
    "bool": "xs:boolean",
    "byte": "xs:unsignedByte",
    "unsignedByte": "xs:unsignedByte",
}

#: Fault detail types by the abbreviations of appendix A, plus the two the WSDL lacks but the wire
#: carries (``QuotaLimitExceededException`` confirmed by Severa support, ``TosNotApprovedException``
#: by name only; its shape is INFERRED to match the others).
DECLARED_FAULTS = {
    "AF": "AuthenticationFailureException",
    "GF": "GeneralFailureException",
    "NF": "NotFoundException",
    "NP": "NoPermissionException",
    "VE": "ValidationException",
}
UNDECLARED_FAULTS = ("QuotaLimitExceededException", "TosNotApprovedException")
FAULT_TYPES = (*DECLARED_FAULTS.values(), *UNDECLARED_FAULTS)


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    type: str  # as in the reference: "string", "dateTime?", "string[]", "InvoiceRow[]", "InvoiceConfig"

    @property
    def base(self) -> str:
        return self.type.rstrip("?").removesuffix("[]")

    @property
    def is_array(self) -> bool:
        return self.type.endswith("[]")

    @property
    def is_entity(self) -> bool:
        return self.base not in XSD_SIMPLE

    @property
    def nillable(self) -> bool:
        return self.type.endswith("?") or self.is_array or self.is_entity or self.base == "string"


@dataclass(frozen=True, slots=True)
class Operation:
    interface: str
    name: str
    params: tuple[Member, ...]
    returns: str  # "void", "string", "Customer", "Customer[]"
    faults: tuple[str, ...]  # detail type names

    @property
    def soap_action(self) -> str:
        return f"{NS_SEVERA}{self.interface}/{self.name}"

    @property
    def qualified(self) -> str:
        return f"{self.interface}/{self.name}"


def _members(spec: str) -> tuple[Member, ...]:
    return tuple(Member(*item.split(":", 1)) for item in spec.split())


def _op(interface: str, name: str, params: str, returns: str, faults: str) -> Operation:
    codes = [code for code in faults.split(",") if code]
    return Operation(interface, name, _members(params), returns, tuple(DECLARED_FAULTS[c] for c in codes))


ENTITIES: dict[str, tuple[Member, ...]] = {
    "Customer": _members(
        "AccountGroupGUIDs:string[] AccountOwnerUserGUID:string AccountRating:int? AnnualRevenue:int? "
        "CompanyGUID:string CurrencyCode:string CurrencyGUID:string Email:string Employees:int? "
        "GUID:string HeadOfficeAddressGUID:string IndustryGUID:string InsertTS:dateTime "
        "InvoicingVat:decimal? IsActive:bool IsInternal:bool? LanguageCode:string LanguageGUID:string "
        "Name:string Notes:string Number:long? OverdueInterest:decimal? PaymentTerm:int? "
        "PricelistGUID:string ReverseCharge:bool? TimezoneGUID:string UpdatedTS:dateTime? "
        "VatNumber:string Website:string eInvoiceAddress:string eInvoiceOperator:string"
    ),
    # A company's addresses (IAddress): read with each customer (datatypes/accounts.py). It carries
    # no change time and no account GUID; the company it belongs to is CompanyGUID.
    "Address": _members(
        "Addressline:string Addressline2:string Addressline3:string City:string CompanyGUID:string "
        "CountryCode:string CountryGUID:string CountryName:string CountryRegionGUID:string "
        "CountryRegionName:string Fax:string GUID:string IsBillingAddress:bool IsPostalAddress:bool "
        "IsVisitAddress:bool Phone:string PostalCode:string"
    ),
    # Read by the preflight only (severa-sync check: is severa.business_unit_guid a unit?).
    "BusinessUnit": _members(
        "Code:string CostCenterGUID:string CurrencyCode:string CurrencyGUID:string "
        "FormattingCulture:string GUID:string InsertTS:dateTime IsActive:bool LanguageCode:string "
        "LanguageGUID:string Name:string NextInvoiceNumber:int? OverDueInterest:decimal? "
        "ParentBusinessUnitGUID:string PaymentTerm:int? ShowLogoOnInvoices:bool "
        "ShowLogoOnPdfReports:bool TimeZoneGUID:string UpdatedTS:dateTime? VatNumber:string"
    ),
    "Case": _members(
        "AccountGUID:string AccountName:string AccountNumber:long? BillingAddress:string "
        "BillingAddressGUID:string BillingInternalNotes:string BillingNotesBeforeGrid:string "
        "BusinessUnitGUID:string BusinessUnitName:string BusinessUnitNumber:string CaseNumber:long? "
        "CaseOwnerUserCode:string CaseOwnerUserGUID:string ClosedDate:dateTime? "
        "CompletionEstimate:int? ContactGUID:string CostCenterGUID:string CostCenterNumber:string "
        "CurrencyGUID:string CurrencyShortform:string CurrentCaseStatusDescription:string "
        "CurrentCaseStatusGUID:string CurrentCaseStatusInsertTs:dateTime? DeadlineDate:dateTime? "
        "Description:string ExpectedValue:decimal? GUID:string IncludeExceptions:bool "
        "IncludeOverTime:bool InsertTs:dateTime InternalName:string InvoiceTemplateGUID:string "
        "IsClosed:bool IsDailyAllowanceBillable:bool IsInternal:bool IsMileageBillable:bool "
        "IsOtherTravelExpensesBillable:bool LatestEstimationDate:dateTime? LeadRating:int? "
        "LeadSourceGUID:string Name:string OrderNumber:string OurReference:string "
        "OverdueInterest:decimal? PaymentTerm:int? PricelistGUID:string PricingRule:string "
        "PricingType:string Priority:int Probability:int? RootTaskGUID:string "
        "SalesCloseDate:dateTime? SalesPersonUserCode:string SalesPersonUserGUID:string "
        "SalesProcessGUID:string SalesStatusGUID:string SharedToExtranet:bool StartDate:dateTime "
        "UpdatedTs:dateTime? UrlToCase:string UseDefaultProductsInWorkTimeEntry:bool "
        "UseDefaultWorkTypes:bool YourReference:string"
    ),
    "Invoice": _members(
        "AccountGUID:string AccountName:string AccountNumber:long? BusinessUnitCode:string "
        "BusinessUnitGUID:string BusinessUnitName:string BuyerOrganization:InvoiceBuyerOrganization "
        "Culture:string CurrencyGUID:string CurrencyName:string CurrencyRate:decimal "
        "CurrencyShortform:string Date:dateTime Description:string DueDate:dateTime "
        "EntryDate:dateTime GUID:string InvoiceAllowedCaseGUIDs:string[] InvoiceConfig:InvoiceConfig "
        "InvoiceDetails:InvoiceDetails InvoiceNumberingBusinessUnitGUID:string "
        "InvoiceRows:InvoiceRow[] InvoiceStatus:string IsCreditNote:bool IsReimbursed:bool "
        "IsTaxFree:bool LanguageCode:string LanguageGUID:string MainCaseGUID:string Notes:string "
        "Number:int? OrderNumber:string OurReference:string OverDueInterest:decimal "
        "PaymentDate:dateTime? PaymentStatus:string PaymentTerm:int PoNumber:string "
        "ReceiverAddressline:string ReceiverCity:string ReceiverContactEmail:string "
        "ReceiverContactName:string ReceiverCountry:string ReceiverCustomerName:string "
        "ReceiverPostalCode:string ReceiverState:string ReceiverVatNumber:string "
        "ReferenceNumber:string ReimburseInvoiceGUID:string SellerContact:InvoiceSellerContact "
        "SellerOrganization:InvoiceSellerOrganization SenderAddressline:string SenderCity:string "
        "SenderContactName:string SenderCountry:string SenderName:string SenderPostalCode:string "
        "SenderState:string SenderVatNumber:string TaxFreeDescription:string Title:string "
        "VirtualBankBarcode:string YourReference:string NotesAfterInvoiceRows:string "
        "NotesBeforeInvoiceRows:string"
    ),
    "InvoiceBuyerOrganization": _members(
        "buyerContactPersonName:string buyerElectronicInvoiceAddress:string "
        "buyerElectronicInvoiceOperator:string buyerEmailaddressIdentifier:string "
        "buyerOrganisationName:string buyerOrganisationTaxCode:string buyerPartyIdentifier:string "
        "buyerPhoneNumberIdentifier:string buyerPostalAddressDetails:InvoicePostAddress"
    ),
    "InvoiceConfig": _members(
        "BillExpense:string BillHour:string BillProduct:string ExpenseItemDescriptionFormat:string "
        "HourItemDescriptionFormat:string HourPrimaryGroupBy:string HourSecondaryGroupBy:string "
        "IsTaxFree:bool ProductItemDescriptionFormat:string ProductPrimaryGroupBy:string "
        "ProductSecondaryGroupBy:string ShowAttachPriceExcludingVAT:bool ShowAttachUnit:bool "
        "ShowAttachUnitPrice:bool ShowAttachVAT:bool ShowLogoOnInvoice:bool "
        "ShowPriceExcludingVAT:bool ShowQuantity:bool ShowUnit:bool ShowUnitPrice:bool ShowVAT:bool "
        "TaxFreeDescription:string TravelPrimaryGroupBy:string TravelSecondaryGroupBy:string"
    ),
    "InvoiceDetails": _members(
        "invoiceDate:dateTime invoiceDueDate:dateTime invoiceNumber:int? "
        "invoiceTotalVatAmount:decimal invoiceTotalVatExcludedAmount:decimal "
        "invoiceTotalVatIncludedAmount:decimal invoiceTypeText:string orderIdentifier:string "
        "originCode:string paymentOverDueFineFreeText:string paymentOverDueFinePercent:decimal "
        "paymentTermsFreeText:string sellerReferenceIdentifier:string vatBaseAmount:decimal "
        "vatRateAmount:decimal vatRatePercent:int"
    ),
    "InvoiceRow": _members(
        "CaseGUIDs:string[] EventDate:dateTime GUID:string HourGUIDs:string[] ItemGUIDs:string[] "
        "MainCaseGUID:string MainCaseName:string MainCaseNumber:long? MainUserFullName:string "
        "MainUserGUID:string PhaseGUIDs:string[] ProductGUIDs:string[] TravelExpenseGUIDs:string[] "
        "UserGUIDs:string[] articleIdentifier:string articleName:string deliveredQuantity:decimal "
        "quantityUnitCode:string rowAccountDimensionText:string rowAmount:decimal "
        "rowAmountCurrencyIdentifier:string rowCostAmount:decimal rowCostCenterGUID:string "
        "rowCostCenterName:string rowCostCenterNumber:string rowDeliveryDate:dateTime "
        "rowFreeText:string rowIdentifier:string rowNumber:int rowRecurringSalesAccountNumber:string "
        "rowSalesAccountNumber:string rowSalesReceivableAccountNumber:string rowUnitPrice:decimal "
        "rowVatAccountNumber:string rowVatAmount:decimal rowVatCode:string "
        "rowVatCurrencyIdentifier:string rowVatExcludedAmount:decimal "
        "rowVatExcludedCurrencyIdentifier:string rowVatRatePercent:decimal? unitPriceAmount:decimal "
        "unitPriceCurrencyIdentifier:string"
    ),
    "InvoiceSellerContact": _members(
        "sellerAccountDetails:InvoiceBankAccount[] sellerContactPersonName:string "
        "sellerEmailaddressIdentifier:string sellerFaxNumber:string sellerFreeText:string "
        "sellerHomeTownName:string sellerPhoneNumber:string sellerWebaddressIdentifier:string"
    ),
    "InvoiceSellerOrganization": _members(
        "sellerEInvoiceAddress:string sellerEInvoiceOperator:string sellerOrganisationName:string "
        "sellerOrganisationTaxCode:string sellerPartyIdentifier:string "
        "sellerPostalAddressDetails:InvoicePostAddress"
    ),
    "InvoicePostAddress": _members(
        "country:string countryCode:string postCodeIdentifier:string streetName:string townName:string"
    ),
    "InvoiceBankAccount": _members("sellerAccountID:string sellerBic:string"),
    "InvoiceStatus": _members(
        "Description:string HasInvoiceNumber:bool IsActive:bool IsDefault:bool IsPaid:bool "
        "IsReadOnly:bool IsSent:bool IsWaitingPayment:bool Name:string SortOrder:int"
    ),
    "HourEntry": _members(
        "AccountGUID:string CaseGUID:string Description:string EndTime:dateTime? EventDate:dateTime "
        "GUID:string InvoiceDescription:string InvoiceGUID:string InvoiceQuantity:decimal? "
        "InvoiceRowGUID:string IsApproved:bool? IsBillable:bool IsProductive:bool? IsReadOnly:bool "
        "OverTimeGUID:string PhaseGUID:string Quantity:decimal StartTime:dateTime? TaskGUID:string "
        "UnitCost:decimal UnitPrice:decimal UnitPriceInBaseCurrency:decimal UserGUID:string "
        "WorkTypeGUID:string"
    ),
    "Activity": _members(
        "AccountGUID:string ActivityTypeGUID:string EndDateTime:dateTime? GUID:string IsAllDay:bool "
        "IsClosed:bool IsDuration:bool IsPrivate:bool IsReadOnly:bool? Location:string Name:string "
        "Notes:string OwnerUserGUID:string StartDateTime:dateTime? TaskGUID:string"
    ),
    "ActivityType": _members(
        "Category:string Code:string GUID:string Icon:string IsActive:bool IsDefault:bool "
        "IsPaidLeave:bool? Name:string"
    ),
    # ProductBase members first, then Product's own (DataContract inheritance: base members precede
    # derived ones on the wire). Flat here: the WSDL declares Product as one sequence of the same order.
    "Product": _members(
        "Code:string Description:string GUID:string IsActive:bool MeasurementUnit:string Name:string "
        "Type:string UnitCost:decimal? UnitPrice:decimal? UseInWorkTimeEntry:bool VAT:decimal? "
        "ProductCategoryGUID:string SalesAccountGUID:string"
    ),
    "User": _members(
        "Addressline:string BankAccountNumber:string BusinessUnitCode:string BusinessUnitGUID:string "
        "BusinessUnitName:string Code:string CountryCode:string CountryGUID:string "
        "CountryRegionGUID:string CountryRegionName:string Culture:string "
        "DefaultActivityTypeGUID:string Email:string FirstName:string GUID:string IsActive:bool "
        "LanguageCode:string LanguageGUID:string LastName:string Notes:string OrganizationGUID:string "
        "Phone:string PhotoFileGUID:string PostOffice:string PostalCode:string ProfileGUID:string "
        "Salutation:string SendDailyMail:bool SendWeeklyMail:bool SocialSecurityNumber:string "
        "SuperiorUserGUID:string TimezoneGUID:string Title:string WorktypeGUID:string"
    ),
}

OPERATIONS: tuple[Operation, ...] = (
    _op("IAPI", "GetVersion", "", "string", ""),
    _op("IAPI", "GetEntitySchemaVersion", "", "string", ""),
    _op("IBusinessUnit", "GetBusinessUnitByGUID", "businessUnitGuid:string", "BusinessUnit", "AF,GF,NF"),
    _op(
        "ICustomer",
        "GetCustomersChangedSince",
        "startDateTime:dateTime options:int",
        "Customer[]",
        "AF,GF,NF",
    ),
    _op("ICustomer", "GetCustomerByGUID", "accountGuid:string", "Customer", "AF,GF,NF"),
    _op("ICustomer", "GetAllCustomers", "options:int startFromIndex:int count:int", "Customer[]", "AF,GF"),
    _op(
        "IAddress",
        "GetAddressesChangedSince",
        "accountGUID:string startDateTime:dateTime options:int",
        "Address[]",
        "AF,GF",
    ),
    _op(
        "ICase",
        "GetCasesChangedSince",
        "businessUnitGUID:string startDateTime:dateTime options:int",
        "Case[]",
        "AF,GF",
    ),
    _op("ICase", "GetCaseByGUID", "caseGuid:string", "Case", "AF,GF,NF"),
    _op(
        "IInvoice",
        "GetInvoicesByStatus",
        "businessUnitGUID:string status:string options:int maxInvoices:int?",
        "Invoice[]",
        "AF,GF,NF",
    ),
    _op(
        "IInvoice",
        "GetInvoicesByDateAndStatus",
        "businessUnitGUID:string startDate:dateTime? endDate:dateTime? status:string options:int",
        "Invoice[]",
        "AF,GF",
    ),
    _op("IInvoice", "GetInvoiceByGUID", "invoiceGUID:string", "Invoice", "AF,GF,NF"),
    _op(
        "IInvoice",
        "GetInvoiceByNumber",
        "invoiceNumber:int businessUnitGUID:string",
        "Invoice",
        "AF,GF,NF",
    ),
    _op("IInvoice", "SetInvoiceStatus", "invoiceGUID:string status:string", "void", "AF,GF,NF,NP"),
    _op(
        "IInvoice", "SetInvoicePaymentDate", "invoiceGUID:string paymentDate:dateTime?", "void", "AF,GF,NF,NP"
    ),
    _op(
        "IInvoice",
        "AddNewInvoiceLogEntry",
        "invoiceGuid:string context:string text:string source:string eventTimeUtc:dateTime? ignoreDuplicates:bool",
        "void",
        "AF,GF,NF",
    ),
    _op("IInvoiceStatus", "GetAllInvoiceStatuses", "", "InvoiceStatus[]", ""),
    _op("IHourEntry", "GetHourEntriesChangedSince", "startDate:dateTime", "HourEntry[]", "AF,GF"),
    _op(
        "IHourEntry",
        "GetHourEntriesByDate",
        "businessUnitGUID:string startdate:dateTime? enddate:dateTime?",
        "HourEntry[]",
        "AF,GF",
    ),
    _op(
        "IActivity",
        "GetActivityInstances",
        "userGUID:string startsAfter:dateTime? startsBefore:dateTime? endsAfter:dateTime? endsBefore:dateTime? activityTypeGUID:string accountGUID:string caseGUID:string firstRow:int? maxRows:int?",
        "Activity[]",
        "AF,GF,VE",
    ),
    _op("IActivityType", "GetAllActivityTypes", "", "ActivityType[]", "AF,GF"),
    _op(
        "IUser",
        "GetUsersChangedSince",
        "businessUnitGUID:string startDateTime:dateTime options:int",
        "User[]",
        "AF,GF",
    ),
    _op("IProduct", "GetProductByGUID", "productGUID:string", "Product", "AF,GF,NF"),
    _op(
        "IProduct",
        "GetProductsChangedSince",
        "startDateTime:dateTime options:int",
        "Product[]",
        "AF,GF",
    ),
    # 2020 contract ([FS] Activities Domain.fs). Parameter types INFERRED: dateTime for the two dates,
    # string for category and unit; faults INFERRED as the other IActivity reads (AF, GF, VE).
    _op(
        "IActivity",
        "GetActivitiesByDate",
        "startDate:dateTime endDate:dateTime activityCategory:string businessUnitGuid:string",
        "Activity[]",
        "AF,GF,VE",
    ),
)

OPERATIONS_BY_NAME: dict[str, Operation] = {op.qualified: op for op in OPERATIONS}
INTERFACES: tuple[str, ...] = tuple(dict.fromkeys(op.interface for op in OPERATIONS))


def operation(qualified: str) -> Operation:
    """The operation named ``"<Interface>/<Operation>"``."""
    return OPERATIONS_BY_NAME[qualified]
