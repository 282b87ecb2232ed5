"""Error reports (the technical 500 page, error e-mails) that never show a secret, DEBUG or not.

Django's ``SafeExceptionReporterFilter`` hides the variables named by ``sensitive_variables`` only when DEBUG
is off, and only by name. Here it is always on, and any variable, or key of a mapping, whose name looks like a
secret (authorization, token, signature, key, secret, password, credentials) is hidden too — this also covers
frames inside ``requests``/``urllib3`` that hold our headers, which we cannot decorate.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from django.views.debug import SafeExceptionReporterFilter


class SecretSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    hidden_settings = re.compile("API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|COOKIE|CREDENTIAL|BASIC", flags=re.I)

    def is_active(self, request) -> bool:
        return True

    def cleanse_setting(self, key, value):
        if isinstance(value, Mapping) and not isinstance(value, dict):
            value = dict(value)  # requests' and urllib3's header mappings
        return super().cleanse_setting(key, value)

    def get_traceback_frame_variables(self, request, tb_frame):
        return [(name, self.cleanse_setting(name, value))
                for name, value in super().get_traceback_frame_variables(request, tb_frame)]
