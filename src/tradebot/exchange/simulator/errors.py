"""Upbit's error answers, raised anywhere in the simulator and rendered by the app (§6).

Exchange errors carry a string `name`; quotation parameter errors carry the HTTP status as an
integer `name`, exactly as Upbit sends them.
"""

from __future__ import annotations


class ApiError(Exception):
    """An error answer: HTTP status plus Upbit's `{"error": {"name", "message"}}` body."""

    def __init__(self, status: int, name: str | int, message: str) -> None:
        super().__init__(f"{status} {name}: {message}")
        self.status = status
        self.name = name
        self.message = message

    def body(self) -> dict[str, object]:
        """The JSON document Upbit answers with."""
        return {"error": {"name": self.name, "message": self.message}}


MISSING_PARAMETER = "Missing request parameter error. Check the required parameters!"
INVALID_PARAMETER = "Invalid parameter. Check the given value!"
TYPE_MISMATCH = "Type mismatch error. Check the parameters type!"
CODE_NOT_FOUND = "Code not found"

INVALID_PRICE_MESSAGE = "주문가격 단위를 잘못 입력하셨습니다. 확인 후 시도해주세요."
INVALID_VOLUME_MESSAGE = "주문수량 단위를 잘못 입력하셨습니다. 확인 후 시도해주세요."
ORDER_NOT_FOUND_MESSAGE = "주문을 찾지 못했습니다."


def missing_parameter() -> ApiError:
    """Quotation: a required parameter is absent (400, integer name)."""
    return ApiError(400, 400, MISSING_PARAMETER)


def invalid_parameter() -> ApiError:
    """Quotation: a parameter has a value Upbit does not accept (400, integer name)."""
    return ApiError(400, 400, INVALID_PARAMETER)


def type_mismatch() -> ApiError:
    """Quotation: a parameter is not of the expected type (400, integer name)."""
    return ApiError(400, 400, TYPE_MISMATCH)


def code_not_found() -> ApiError:
    """Quotation: unknown market code (404, integer name)."""
    return ApiError(404, 404, CODE_NOT_FOUND)


def validation_error(message: str) -> ApiError:
    """Exchange: a missing or invalid parameter (400 `validation_error`)."""
    return ApiError(400, "validation_error", message)


def order_not_found() -> ApiError:
    """Exchange: no such order, or none that the request may act on (404 `order_not_found`)."""
    return ApiError(404, "order_not_found", ORDER_NOT_FOUND_MESSAGE)


def auth_error(name: str, message: str) -> ApiError:
    """Exchange: the JWT or key was refused (401)."""
    return ApiError(401, name, message)
