"""TikTok's response envelope `{code, message, data, request_id}`, the error codes the sandbox answers, and ApiError.

Codes are TikTok's where sec. 12 of tiktok-api.md documents one; the rest are sandbox choices, marked below.
HTTP status is 200 for every envelope error except 106001 (401) and 36009002 (429), as observed at TikTok.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from starlette.responses import JSONResponse

SUCCESS = 0
EXPIRED_TOKEN = 105002
MISSING_SCOPE = 105005
TOKEN_SHOP_MISMATCH = 101000
INVALID_SIGN = 106001
MISSING_SHOP_CIPHER = 106013
TOO_MANY_REQUESTS = 36009002
INTERNAL_ERROR = 36009003
INVALID_PARAMETER = 36009004  # TikTok's overloaded gateway code; the message tells causes apart
INVALID_PATH = 36009009
INVALID_METHOD = 36009010
BODY_NOT_JSON = 36009022
PRODUCT_PAGE_TOKEN_INVALID = 12019108
PRODUCT_PAGE_SIZE_INVALID = 12019109
PRODUCT_TOO_MANY_SELLER_SKUS = 12019027
PRODUCT_CREATE_TIME_INVALID = 12019118
PRODUCT_UPDATE_TIME_INVALID = 12019119
PRODUCT_SEARCH_CAP = 12052180
PRODUCT_NOT_FOUND = 12052048  # sandbox choice: no documented code for an unknown product id
# Update Inventory on a product not ACTIVATE (live-sync.md sec. 1.1: "product status does not allow it", the documented
# code closest to it; which status answers which code is not documented: every one but DELETED answers this one)
PRODUCT_STATUS_NOT_ALLOWED = 12052901
SKU_NOT_FOUND = 12052556
WAREHOUSE_NOT_FOUND = 12052097
QUANTITY_OUT_OF_RANGE = 12052055
BATCH_CHECK_FAILED = 12052990
TOO_MANY_SKUS = 12052050
DUPLICATE_SKU = 12052553
ORDER_INVALID_PARAMETER = 21001001  # sandbox choice: order APIs' own bad-parameter code (page size, token, ids)
ORDER_NOT_OWNED = 21008111
# Token endpoints (auth host). 36004001 and 36004005 were observed at TikTok (EcomPHP PR #15); others are choices.
REFRESH_TOKEN_EXPIRED = 36004001
TOKEN_GRANT_TYPE_INVALID = 36004002  # sandbox choice
TOKEN_APP_INVALID = 36004003  # sandbox choice: unknown app_key or wrong app_secret
AUTH_CODE_INVALID = 36004004  # sandbox choice: unknown, used or expired auth_code
REFRESH_TOKEN_INVALID = 36004005

_HTTP_STATUS = {INVALID_SIGN: 401, TOO_MANY_REQUESTS: 429}


class ApiError(Exception):
    """A request TikTok would refuse: carries the envelope code, message and HTTP status."""

    def __init__(self, code: int, message: str, status: int | None = None, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else _HTTP_STATUS.get(code, 200)
        self.data = data


def new_request_id() -> str:
    """A request id in TikTok's shape: UTC `YYYYmmddHHMMSS` followed by 20 upper-case hex digits."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime()) + secrets.token_hex(10).upper()


def envelope(code: int, message: str, data: Any, request_id: str | None = None) -> dict[str, Any]:
    """The envelope as a dict."""
    return {"code": code, "message": message, "data": data, "request_id": request_id or new_request_id()}


def success(data: Any, request_id: str | None = None) -> JSONResponse:
    """A `code: 0` answer."""
    return JSONResponse(envelope(SUCCESS, "Success", data, request_id))


def failure(error: ApiError, request_id: str | None = None) -> JSONResponse:
    """The answer for an ApiError, with its HTTP status."""
    return JSONResponse(envelope(error.code, error.message, error.data, request_id), status_code=error.status)
