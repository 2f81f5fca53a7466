"""Journal fields for a record, written where the record is logged.

    log.info("client %d connected", cid,
             extra=fields(client_id=cid, message_id=MessageId.CLIENT_CONNECT))

Keywords become `VIRTD_<KEYWORD>` fields (client_id -> VIRTD_CLIENT_ID), the
names `journalctl VIRTD_CLIENT_ID=3` and the catalog's @VIRTD_CLIENT_ID@ use.
Well-known keywords: domain_name, domain_uuid, client_id, error_code,
error_domain. Text outputs ignore the fields; journald records them.
"""

from __future__ import annotations

import logging

from common.errors import VirtError
from common.log.message_ids import MessageId


def fields(*, message_id: MessageId | None = None, **values: object) -> dict[str, object]:
    """An `extra=` dict; None values are left out, so optional context reads plainly."""
    extra: dict[str, object] = {
        f"VIRTD_{key.upper()}": value for key, value in values.items() if value is not None
    }
    if message_id is not None:
        extra["MESSAGE_ID"] = message_id
    return extra


def log_error(
    logger: logging.Logger,
    err: VirtError,
    *,
    message_id: MessageId | None = None,
    **context: object,
) -> None:
    """Log a VirtError once, at error level, with its code and domain as fields and no traceback.

    The record points at the caller's line (CODE_FILE/CODE_LINE), not at this helper.
    """
    logger.error(
        "%s",
        err.message,
        extra=fields(
            message_id=message_id, error_code=err.code, error_domain=err.domain, **context
        ),
        stacklevel=2,
    )
