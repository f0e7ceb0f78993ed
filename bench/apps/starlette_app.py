"""A bare Starlette route doing the same validation by hand."""

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .models import GreetIn, GreetOut


async def greet(request: Request) -> Response:
    try:
        data = GreetIn.model_validate_json(await request.body())
    except ValidationError as exc:
        return JSONResponse({"detail": exc.errors(include_url=False)}, status_code=422)
    out = GreetOut(message=f"Hello, {data.name}!")
    return Response(out.model_dump_json(), media_type="application/json")


app = Starlette(routes=[Route("/actions/greet", greet, methods=["POST"])])
