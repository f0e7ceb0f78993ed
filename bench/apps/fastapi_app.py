"""A bare FastAPI endpoint doing the same Pydantic validation."""

from fastapi import FastAPI

from .models import GreetIn, GreetOut

app = FastAPI()


@app.post("/actions/greet")
async def greet(input: GreetIn) -> GreetOut:
    return GreetOut(message=f"Hello, {input.name}!")
