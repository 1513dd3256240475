"""chatsite.mysql: Django's MySQL backend with DATETIME columns read by
`datetime.fromisoformat`; every value comes out as mysqlclient's parser
gives it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from MySQLdb.times import DateTime_or_None

from chatsite.mysql.base import datetime_or_none


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-06 15:03:07",
        "2026-12-06 15:03:07.123456",
        "2026-12-06 15:03:07.1",
        "2026-12-06 15:03:07.000001",
        "1000-01-01 00:00:00",
        "9999-12-31 23:59:59.999999",
        "0000-00-00 00:00:00",
        "2026-00-00 00:00:00",
        "2026-12-06",
        "2026-12-06 15:03:07.1234567",
        "",
        "not a date at all",
    ],
)
def test_the_fast_parser_gives_what_mysqlclients_gives(text):
    assert datetime_or_none(text) == DateTime_or_None(text)
    assert type(datetime_or_none(text)) is type(DateTime_or_None(text))


@pytest.mark.real_services
@pytest.mark.django_db
def test_a_mariadb_connection_reads_datetimes_with_it_and_they_come_back_aware_and_equal(alice):
    from MySQLdb.constants import FIELD_TYPE

    from accounts.models import User

    connection.ensure_connection()
    assert connection.connection.converter[FIELD_TYPE.DATETIME] is datetime_or_none
    assert connection.connection.converter[FIELD_TYPE.TIMESTAMP] is datetime_or_none
    moment = datetime(2026, 12, 6, 15, 3, 7, 123456, tzinfo=UTC)
    User.objects.filter(pk=alice.pk).update(created_at=moment)
    assert User.objects.get(pk=alice.pk).created_at == moment
    assert User.objects.get(pk=alice.pk).created_at.tzinfo is not None
    whole = moment.replace(microsecond=0)
    User.objects.filter(pk=alice.pk).update(created_at=whole)
    assert User.objects.get(pk=alice.pk).created_at == whole
    assert User.objects.values_list("created_at", flat=True).get(pk=alice.pk) == whole
