"""TCIA's NBIA v4 REST API over HTTP: the token flow and the endpoints the TCIA indexer reads.

Checked against the server source (CBIIT/NBIA-TCIA: ``software/nbia-api/src/gov/nih/nci/nbia/
restAPI/v4/*.java``, ``restAPI/v4/getData.java``, ``restAPI/KeycloakGetToken.java``,
``restUtil/FormatOutput.java``, ``nbia-dao/.../GeneralSeriesDAOImpl.java``,
``StudyDAOImpl.java``, ``ValueAndCountDAOImpl.java``) and the client kirbyju/tcia_utils
(``src/tcia_utils/nbia.py``). Base URL ``https://nbia.cancerimagingarchive.net/nbia-api/services/v4``:

    GET getCollectionValues                  [{"Collection"}]
    GET getCollectionDescriptions            [{"collectionName", "description" (HTML),
                                               "descriptionURI", "id"}]   ("[]" when none)
    GET getCollectionValuesAndCounts         [{"Collection", "Count" (patients), "Authorized"}]
    GET getPatient?Collection=               [{"PatientId", "PatientSex", "Collection",
                                               "SpeciesCode", "SpeciesDescription", ...}]
    GET getPatientStudy?Collection=          [{"StudyInstanceUID", "StudyDate", "StudyDescription",
                                               "PatientAge", "PatientID", "SeriesCount", ...}]
    GET getSeries?Collection=                [{"SeriesInstanceUID", "StudyInstanceUID", "Modality",
                                               "BodyPartExamined", "Manufacturer", "PatientID",
                                               "PatientSex", "PatientAge", "ImageCount",
                                               "FileSize", "LicenseName", "LicenseURI",
                                               "DataDescriptionURI", "StudyDesc", "StudyDate",
                                               "SeriesDescription", "DateReleased", ...}]
    GET getUpdatedSeries?fromDate=MM-DD-YYYY the getSeries columns, for series released after
                                             the date, in public collections only
    POST <host>/nbia-api/oauth/token         form username, password, client_id,
                                             grant_type=password | refresh_token (Keycloak's
                                             answer: access_token, expires_in, refresh_token,
                                             refresh_expires_in, token_type)

What the server does that matters here: counts and sizes are JSON numbers; dates are
``MM-DD-YYYY`` strings; a null value leaves its key out; an empty result is HTTP 200 with an
empty body; every v4 endpoint above except the counts checks its query parameters against
a fixed list and answers 400 to any other, so each method sends exactly its endpoint's
parameters. Without a token the v4 endpoints answer as the guest user (public collections).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx

from imaging_hub.errors import SourceFormatError, SourceUnavailable
from imaging_hub.indexers.http import (
    RETRY_STATUS,
    HttpSettings,
    RetryableError,
    get_json,
    get_text,
    retry_after,
)

NBIA_DATE = "%m-%d-%Y"  # how v4 writes and reads dates (MySQL date_format '%m-%d-%Y')
CITATION_ACCEPT = "text/x-bibliography; style=apa; locale=en-US"


class NbiaTokenAuth(httpx.Auth):
    """Bearer tokens from NBIA's token endpoint (OAuth password grant, proxied to TCIA's
    Keycloak), renewed shortly before they expire and whenever the API answers 401.

    Renewal uses the refresh token while it is valid, else the password grant again.
    Raises ``SourceUnavailable`` when the endpoint refuses the credentials, and
    ``RetryableError`` (retried by ``get_json``) when it answers 429/5xx.
    """

    requires_response_body = True

    def __init__(self, token_url: str, username: str, password: str, client_id: str = "nbia",
                 margin: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.token_url, self.username, self.password = token_url, username, password
        self.client_id, self.margin, self.clock = client_id, margin, clock
        self._lock = threading.Lock()
        self._access: str | None = None
        self._refresh: str | None = None
        self._expires = 0.0
        self._refresh_expires = 0.0
        self.issued = 0  # tokens obtained (tests and reports)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._access is None or self.clock() >= self._expires - self.margin:
            yield from self._renew()
        request.headers["Authorization"] = f"Bearer {self._access}"
        response = yield request
        if response.status_code == 401:  # expired or revoked early: renew once and resend
            yield from self._renew(rejected=True)
            request.headers["Authorization"] = f"Bearer {self._access}"
            yield request

    def _form(self, grant: str) -> dict[str, str]:
        if grant == "refresh_token":
            return {"grant_type": grant, "refresh_token": self._refresh or "",
                    "client_id": self.client_id}
        return {"grant_type": grant, "username": self.username, "password": self.password,
                "client_id": self.client_id}

    def _renew(self, rejected: bool = False) -> Generator[httpx.Request, httpx.Response, None]:
        use_refresh = (not rejected and self._refresh is not None
                       and self.clock() < self._refresh_expires - self.margin)
        grant = "refresh_token" if use_refresh else "password"
        response = yield httpx.Request("POST", self.token_url, data=self._form(grant))
        if grant == "refresh_token" and response.status_code in (400, 401):
            response = yield httpx.Request("POST", self.token_url, data=self._form("password"))
        self._accept(response)

    def _accept(self, response: httpx.Response) -> None:
        if response.status_code in RETRY_STATUS:
            raise RetryableError(f"token endpoint answered HTTP {response.status_code}",
                                 retry_after(response))
        if response.status_code != 200:
            raise SourceUnavailable(
                f"TCIA token endpoint {self.token_url} refused the credentials "
                f"(HTTP {response.status_code}): check username_env/password_env")
        try:
            body = response.json()
            access, expires_in = str(body["access_token"]), float(body["expires_in"])
        except (ValueError, KeyError, TypeError) as exc:
            raise SourceFormatError(f"token endpoint {self.token_url}: no access_token/"
                                    f"expires_in in its answer ({exc})") from exc
        now = self.clock()
        with self._lock:
            self._access, self._expires = access, now + expires_in
            self._refresh = body.get("refresh_token")
            self._refresh_expires = now + float(body.get("refresh_expires_in") or 0)
            self.issued += 1


Rows = list[dict[str, Any]]


@dataclass
class NbiaClient:
    """The v4 endpoints the indexer reads. ``client``'s base URL is the v4 root; it carries
    the token auth when credentials are configured. ``anonymous`` (only then) asks the same
    server as the guest user, to tell public collections from limited-access ones."""

    client: httpx.Client
    anonymous: httpx.Client | None = None
    settings: HttpSettings = field(default_factory=HttpSettings)

    def _rows(self, endpoint: str, params: dict[str, str] | None = None,
              client: httpx.Client | None = None) -> list[Any]:
        data = get_json(client or self.client, endpoint, params, self.settings)
        if data is None:  # v4's empty result: HTTP 200 with an empty body
            return []
        if not isinstance(data, list):
            raise SourceFormatError(f"{endpoint}: expected a JSON array, got "
                                    f"{type(data).__name__}")
        return data

    def collections(self, public: bool = False) -> list[str]:
        """Collection names the credentials (or, ``public``, the guest user) may read."""
        client = self.anonymous if public and self.anonymous is not None else self.client
        rows = self._rows("getCollectionValues", client=client)
        return [str(r["Collection"]) for r in rows if isinstance(r, dict) and r.get("Collection")]

    def descriptions(self) -> list[Any]:
        return self._rows("getCollectionDescriptions")

    def patient_counts(self) -> list[Any]:
        return self._rows("getCollectionValuesAndCounts")

    def patients(self, collection: str) -> list[Any]:
        return self._rows("getPatient", {"Collection": collection})

    def studies(self, collection: str) -> list[Any]:
        return self._rows("getPatientStudy", {"Collection": collection})

    def series(self, collection: str) -> list[Any]:
        return self._rows("getSeries", {"Collection": collection})

    def updated_series(self, since: date) -> list[Any]:
        """Series released after ``since`` (public collections only, as the server does)."""
        return self._rows("getUpdatedSeries", {"fromDate": since.strftime(NBIA_DATE)})


@dataclass
class CitationClient:
    """Formatted data citations by DOI content negotiation (``GET <resolver>/<doi>`` with
    ``Accept: text/x-bibliography``), the citation TCIA asks users to give; DataCite
    answers for TCIA's DOIs (doi.org redirects there)."""

    client: httpx.Client
    settings: HttpSettings = field(default_factory=HttpSettings)

    def citation(self, doi: str) -> str | None:
        """The APA citation of ``doi``; raises ``SourceUnavailable``/``SourceFormatError``."""
        return get_text(self.client, doi, settings=self.settings, accept=CITATION_ACCEPT)
