"""LinkedIn (member) and LinkedIn Page (organisation admin): one OAuth app flow, two accounts.

Self-serve apps get no refresh token (the member re-authorizes every 60 days); partner apps get a
non-rotating one whose 365-day clock starts at the first grant (docs/platforms.md, LinkedIn).
"""

from __future__ import annotations

from typing import Any

from mooring.platforms import descriptions
from mooring.platforms.descriptions import AccountType
from mooring.platforms.http import bearer, optional_str, require_str
from mooring.platforms.oauth_adapter import OAuthAdapter
from mooring.platforms.results import Candidate, Profile, TokenSet
from mooring.platforms.settings import LinkedInSettings
from mooring.platforms.signals import ErrorSignals, linkedin_signals

__all__ = ["LinkedInAdapter", "LinkedInPageAdapter"]

_ADMIN_ROLES = frozenset({"ADMINISTRATOR", "CONTENT_ADMINISTRATOR"})
_ORG_PROJECTION = "(elements*(*,organization~(id,localizedName,vanityName)))"


class LinkedInAdapter(OAuthAdapter[LinkedInSettings]):
    DESCRIPTION = descriptions.LINKEDIN
    SIGNALS = ErrorSignals(api=linkedin_signals, token=linkedin_signals)

    def authorize_url(self) -> str:
        return f"{self._settings.auth_base}/oauth/v2/authorization"

    def token_url(self) -> str:
        return f"{self._settings.auth_base}/oauth/v2/accessToken"

    def _rest_headers(self, tokens: TokenSet) -> dict[str, str]:
        return {
            **bearer(tokens.access_token),
            "LinkedIn-Version": self._settings.api_version,
            "X-Restli-Protocol-Version": "2.0.0",
        }

    async def fetch_profile(self, tokens: TokenSet) -> Profile:
        body = await self._userinfo(tokens)
        return Profile(
            platform_account_id=require_str(self.platform, body, "sub"),
            username=optional_str(body, "email"),
            display_name=optional_str(body, "name"),
            avatar_url=optional_str(body, "picture"),
        )

    async def _userinfo(self, tokens: TokenSet) -> dict[str, Any]:
        return await self._http.call(
            "GET", f"{self._settings.api_base}/v2/userinfo", headers=bearer(tokens.access_token)
        )

    async def _who_am_i(self, tokens: TokenSet) -> None:
        await self._userinfo(tokens)


class LinkedInPageAdapter(LinkedInAdapter):
    DESCRIPTION = descriptions.LINKEDIN_PAGE

    async def _organisation_acls(self, tokens: TokenSet) -> dict[str, Any]:
        return await self._http.call(
            "GET",
            f"{self._settings.api_base}/rest/organizationAcls",
            params={
                "q": "roleAssignee",
                "state": "APPROVED",
                "projection": _ORG_PROJECTION,
            },
            headers=self._rest_headers(tokens),
        )

    async def list_candidates(self, tokens: TokenSet) -> tuple[Candidate, ...]:
        """The organisations the member administers (approved ADMINISTRATOR-type roles)."""
        body = await self._organisation_acls(tokens)
        elements = body.get("elements")
        candidates: dict[str, Candidate] = {}
        for element in elements if isinstance(elements, list) else []:
            if not isinstance(element, dict):
                continue
            if element.get("role") not in _ADMIN_ROLES or element.get("state", "APPROVED") != (
                "APPROVED"
            ):
                continue
            urn = optional_str(element, "organization") or ""
            decorated = element.get("organization~")
            org = decorated if isinstance(decorated, dict) else {}
            org_id = optional_str(org, "id") or urn.rsplit(":", 1)[-1]
            if not org_id:
                continue
            candidates[org_id] = Candidate(
                id=org_id,
                account_type=AccountType.ORGANISATION,
                name=optional_str(org, "localizedName"),
                username=optional_str(org, "vanityName"),
            )
        return tuple(candidates.values())

    async def _who_am_i(self, tokens: TokenSet) -> None:
        await self._organisation_acls(tokens)
