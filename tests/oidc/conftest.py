from .support import application, provider_settings, relying_party  # noqa: F401
