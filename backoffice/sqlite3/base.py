"""Django's SQLite backend, told the real variable limit of the linked SQLite library.

Django assumes SQLite's historical default of 999 variables per statement and splits bulk inserts to fit,
so a 200-line request would cost more queries than a 2-line one. Modern SQLite builds allow far more
(``SQLITE_LIMIT_VARIABLE_NUMBER``, 250000 here); we use what the library reports.
"""

import sqlite3

from django.db.backends.sqlite3 import base, features
from django.utils.functional import cached_property


class DatabaseFeatures(features.DatabaseFeatures):
    @cached_property
    def max_query_params(self) -> int:
        self.connection.ensure_connection()
        return self.connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)


class DatabaseWrapper(base.DatabaseWrapper):
    features_class = DatabaseFeatures
