"""The tenant document of a deployed stack: an SSM parameter, re-read within minutes, never half applied.

Why SSM Parameter Store (and not AppConfig): one small document per stack, read by every function
on an hourly schedule. A String parameter is free (Standard tier, up to 4 KB; Intelligent-Tiering
moves a larger document to Advanced, up to 8 KB), has a per-parameter ARN for least-privilege IAM,
keeps a version history an operator can diff, and powertools ``get_parameter`` caches it. AppConfig
adds an application, an environment, a profile and a deployment strategy for a gain (gradual
roll-out, validators in AWS) that a once-an-hour batch job does not need; our validator is the
pydantic model itself, run before every write (``severa-sync config push``) and again on every read.

Two parameters per stack, so a deploy never overwrites what an operator pushed: the template owns
only the *seed* ``/severa-sync/<stack>/config-seed`` (built from the stack parameters, rewritten by
any deploy that changes one), and ``severa-sync config push`` writes the *operator* parameter
``/severa-sync/<stack>/config``, which CloudFormation does not manage. A function reads the
operator parameter and falls back to the seed only while the operator parameter does not exist
(``ParameterNotFound``), saying so in its log; any other failure (access denied, SSM unreachable) is a
``ConfigError``, never a silent switch to the seed.

``LastGoodConfig`` keeps the last document that validated in the container: a document that does
not validate is reported (one error log line and one alert per distinct document, naming the fields)
and the last good configuration stays; with none (a cold start on a bad document) the run stops with
a ``ConfigError``. Configuration is validated whole, so it is applied whole or not at all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from severa_sync.config import TenantConfig, parse_config
from severa_sync.errors import ConfigError

PARAMETER_VARIABLE = "SEVERA_SYNC_CONFIG_PARAMETER"  # the operator's document (config push)
SEED_VARIABLE = "SEVERA_SYNC_CONFIG_SEED_PARAMETER"  # the template's seed, used while there is none
INLINE_VARIABLE = "SEVERA_SYNC_CONFIG"
#: How long a read document is trusted before SSM is asked again (the issue's "within minutes").
MAX_AGE_SECONDS = 300
#: Advanced tier's limit; Intelligent-Tiering picks Standard up to 4 KB.
MAX_DOCUMENT_BYTES = 8192
ALERT_KIND = "invalid_configuration"
_TENANT = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def parse_document(text: str, *, origin: str) -> TenantConfig:
    """A JSON tenant document, validated whole by ``TenantConfig``."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{origin} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{origin} is not a JSON object (got {type(data).__name__})")
    return parse_config(data, origin=origin)


def tenant_hint(text: str) -> str:
    """The tenant a rejected document names, when it names one plainly (for the alert's subject)."""
    try:
        tenant = json.loads(text).get("tenant")
    except (json.JSONDecodeError, AttributeError):
        return "unknown"
    return tenant if isinstance(tenant, str) and _TENANT.fullmatch(tenant) else "unknown"


class ParameterMissing(ConfigError):
    """The parameter does not exist (SSM's ``ParameterNotFound``): the one case that falls back to the seed."""


def _not_found(exc: BaseException) -> bool:
    # powertools wraps the SDK's ClientError in GetParameterError (raised inside its ``except``).
    cause = exc.__cause__ or exc.__context__
    code = getattr(cause, "response", {}).get("Error", {}).get("Code") if cause is not None else None
    return code == "ParameterNotFound" or (code is None and "ParameterNotFound" in str(exc))


def read_ssm_document(name: str) -> str:
    """The parameter's text through powertools (cached ``MAX_AGE_SECONDS``)."""
    from aws_lambda_powertools.utilities import parameters

    try:
        return str(parameters.get_parameter(name, max_age=MAX_AGE_SECONDS))
    except parameters.exceptions.GetParameterError as exc:
        # Missing, not allowed, or SSM unreachable: the SDK error names the parameter only.
        if _not_found(exc):
            raise ParameterMissing(f"cannot read SSM parameter {name}: ParameterNotFound") from None
        raise ConfigError(f"cannot read SSM parameter {name}: {type(exc).__name__}") from None


class SsmDocumentReader:
    """The operator parameter, or the seed while the operator parameter does not exist.

    ``origin`` names the parameter the last read came from (error messages name the right one); a
    switch between the two is logged once, as a warning when the seed is in use.
    """

    def __init__(self, name: str, seed: str | None, read: Callable[[str], str] = read_ssm_document):
        self.name, self.seed, self._read = name, seed, read
        self.origin = f"SSM parameter {name}"
        self._using_seed: bool | None = None

    def __call__(self) -> str:
        try:
            text = self._read(self.name)
        except ParameterMissing:
            if self.seed is None:
                raise
            text = self._read(self.seed)
            self._switched(True)
            return text
        self._switched(False)
        return text

    def _switched(self, seed: bool) -> None:
        if seed == self._using_seed:
            return
        self._using_seed = seed
        from severa_sync.logs import logger

        if seed:
            self.origin = f"SSM parameter {self.seed} (the seed; {self.name} does not exist)"
            logger.warning(
                f"Configuration: {self.name} does not exist, using the template's seed {self.seed}. "
                "Write the tenant document with: severa-sync config push FILE --stack NAME.",
                extra={"action": "configuration_source", "parameter": self.seed, "seed": True},
            )
        else:
            self.origin = f"SSM parameter {self.name}"
            logger.info(
                f"Configuration: using {self.name} (written by severa-sync config push).",
                extra={"action": "configuration_source", "parameter": self.name, "seed": False},
            )


@dataclass(frozen=True)
class Rejection:
    """A document that did not validate, as the operator is told about it."""

    error: ConfigError
    tenant: str
    kept_last_good: bool

    @property
    def summary(self) -> str:
        outcome = (
            "The last good configuration stays in use until it is fixed."
            if self.kept_last_good
            else "No configuration validated since the function started: runs stop until it is fixed."
        )
        return f"{self.error.message}. {outcome} Check it with: severa-sync config check FILE."


class LastGoodConfig:
    """The current configuration of one container: the newest document that validated."""

    def __init__(
        self,
        read: Callable[[], str],
        *,
        origin: str,
        on_rejected: Callable[[Rejection], None],
    ):
        self._read = read
        self._origin = origin
        self._on_rejected = on_rejected
        self._good: TenantConfig | None = None
        self._good_text: str | None = None
        self._reported: str | None = None  # the rejected document already reported (one alert each)
        self._last_error = ConfigError(f"no configuration read from {origin} yet")

    def current(self) -> TenantConfig:
        """The configuration to run with; raises ``ConfigError`` only when none ever validated."""
        text: str | None = None
        try:
            text = self._read()
            if text != self._good_text:
                config = parse_document(text, origin=getattr(self._read, "origin", self._origin))
                self._good, self._good_text = config, text
            self._reported = None
        except ConfigError as error:
            self._reject(error, text)
        if self._good is None:  # _reject reported it; nothing to fall back to
            raise ConfigError(self._last_error.message)
        return self._good

    def _reject(self, error: ConfigError, text: str | None) -> None:
        self._last_error = error
        fingerprint = text if text is not None else error.message
        if fingerprint == self._reported:
            return
        self._reported = fingerprint
        self._on_rejected(Rejection(error, tenant_hint(text or ""), kept_last_good=self._good is not None))


def config_reader(environ: Mapping[str, str]) -> tuple[Callable[[], str], str]:
    """Where this process's configuration comes from: an SSM parameter (Lambda) or inline JSON (local)."""
    if inline := environ.get(INLINE_VARIABLE):
        return (lambda: inline), INLINE_VARIABLE
    if name := environ.get(PARAMETER_VARIABLE):
        return SsmDocumentReader(name, environ.get(SEED_VARIABLE) or None), f"SSM parameter {name}"
    raise ConfigError(f"no configuration: set {INLINE_VARIABLE} or {PARAMETER_VARIABLE}")
