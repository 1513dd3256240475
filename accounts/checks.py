from django.conf import settings
from django.core.checks import Error, register

from accounts import sms


@register()
def sms_backend_check(app_configs, **kwargs):
    try:
        sms.backend()
    except Exception as exc:  # ImportError, AttributeError, a constructor that fails
        return [Error(f"SMS_BACKEND={settings.SMS_BACKEND!r} cannot be loaded: {exc}", id="accounts.E001")]
    return []
