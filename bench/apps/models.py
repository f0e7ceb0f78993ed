"""The shared input and output models of the HTTP benchmark."""

from pydantic import BaseModel


class GreetIn(BaseModel):
    name: str


class GreetOut(BaseModel):
    message: str
