"""What a failing statement says about its input: nothing (request values stay out of logs)."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration


async def test_a_failing_statement_does_not_carry_its_bound_values(engine: AsyncEngine) -> None:
    # PostgreSQL's own message quotes a value it cannot convert or a duplicate key; this error
    # (division by zero) names none, so anything of the value in it would be SQLAlchemy's echo.
    secret = "pasted-token-a1b2c3"
    with pytest.raises(DBAPIError) as failed:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1 / 0 WHERE CAST(:v AS text) <> ''"), {"v": secret})
    assert secret not in str(failed.value)
    assert "hidden due to hide_parameters" in str(failed.value)
