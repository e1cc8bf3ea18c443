"""Apps registered on each simulated Mastodon instance (`POST /api/v1/apps`)."""

import secrets
from collections import Counter
from dataclasses import dataclass

__all__ = ["MastodonApp", "MastodonRegistry"]


@dataclass(slots=True)
class MastodonApp:
    id: str
    name: str
    website: str | None
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    scopes: tuple[str, ...]


class MastodonRegistry:
    def __init__(self) -> None:
        self.apps: dict[str, dict[str, MastodonApp]] = {}
        # Kept across a vacuum: it answers "how often did Mooring register on this instance".
        self.registrations: Counter[str] = Counter()

    def register(
        self,
        instance: str,
        name: str,
        website: str | None,
        redirect_uris: tuple[str, ...],
        scopes: tuple[str, ...],
    ) -> MastodonApp:
        app = MastodonApp(
            id=str(len(self.apps.get(instance, {})) + 1),
            name=name,
            website=website,
            client_id=secrets.token_urlsafe(32),
            client_secret=secrets.token_urlsafe(32),
            redirect_uris=redirect_uris,
            scopes=scopes,
        )
        self.apps.setdefault(instance, {})[app.client_id] = app
        self.registrations[instance] += 1
        return app

    def get(self, instance: str, client_id: str | None) -> MastodonApp | None:
        if not client_id:
            return None
        return self.apps.get(instance, {}).get(client_id)

    def vacuum(self, instance: str) -> int:
        return len(self.apps.pop(instance, {}))
