"""Provider modules beyond the first four (spec oauth-sso.md section 2); each is one Provider
subclass, registered in services/oauth/__init__.py REGISTRY."""

from .azure import Azure
from .bitbucket import Bitbucket
from .discord import Discord
from .facebook import Facebook
from .figma import Figma
from .fly import Fly
from .kakao import Kakao
from .linkedin import LinkedIn
from .linkedin_oidc import LinkedInOIDC
from .notion import Notion
from .oidc import Apple, VercelMarketplace
from .slack import Slack
from .slack_oidc import SlackOIDC
from .snapchat import Snapchat
from .spotify import Spotify
from .twitch import Twitch
from .twitter import Twitter
from .workos import WorkOS
from .x import X
from .zoom import Zoom

# What REGISTRY adds after the first four (instances are stateless and shared).
ALL = (Azure(), Bitbucket(), Discord(), Facebook(), Figma(), Fly(), Kakao(), LinkedInOIDC(),
       Notion(), SlackOIDC(), Spotify(), Twitch(), WorkOS(), Zoom(),
       Apple(), Snapchat(), VercelMarketplace(),
       LinkedIn(), Slack(), Twitter(), X())

__all__ = ["ALL", "Azure", "Bitbucket", "Discord", "Facebook", "Figma", "Fly", "Kakao",
           "LinkedInOIDC", "Notion", "SlackOIDC", "Spotify", "Twitch", "WorkOS", "Zoom",
           "Apple", "Snapchat", "VercelMarketplace",
           "LinkedIn", "Slack", "Twitter", "X"]
