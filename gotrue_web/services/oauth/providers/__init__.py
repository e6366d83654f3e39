"""Provider modules beyond the first four (spec oauth-sso.md section 2); each is one Provider
subclass, registered in services/oauth/__init__.py REGISTRY."""

from .azure import Azure
from .bitbucket import Bitbucket
from .discord import Discord
from .facebook import Facebook
from .figma import Figma
from .fly import Fly
from .kakao import Kakao
from .linkedin_oidc import LinkedInOIDC
from .notion import Notion
from .slack_oidc import SlackOIDC
from .spotify import Spotify
from .twitch import Twitch
from .workos import WorkOS
from .zoom import Zoom

# What REGISTRY adds after the first four (instances are stateless and shared).
ALL = (Azure(), Bitbucket(), Discord(), Facebook(), Figma(), Fly(), Kakao(), LinkedInOIDC(),
       Notion(), SlackOIDC(), Spotify(), Twitch(), WorkOS(), Zoom())

__all__ = ["ALL", "Azure", "Bitbucket", "Discord", "Facebook", "Figma", "Fly", "Kakao",
           "LinkedInOIDC", "Notion", "SlackOIDC", "Spotify", "Twitch", "WorkOS", "Zoom"]
