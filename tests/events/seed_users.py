"""Events and a module for the PyModules API-layer samples (the seed leaves these to the reader)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, Field

from plugwork.events import Event, EventInput, EventOutput, Module, module
from plugwork.events.api import api_endpoint, exclude_from_api


class UserOut(BaseModel):
    user_id: int
    name: str
    email: str = ""


class CreateUserInput(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    email: str = ""


class GetUserInput(BaseModel):
    user_id: int = Field(ge=1)
    verbose: bool = False


class ListUsersInput(BaseModel):
    limit: int = Field(10, ge=1, le=100)
    offset: int = Field(0, ge=0)
    tags: list[str] = []


class ListUsersOutput(BaseModel):
    users: list[UserOut]
    tags: list[str] = []


class UpdateUserInput(BaseModel):
    user_id: int
    name: str


class DeleteUserInput(BaseModel):
    user_id: int


class DeletedOutput(BaseModel):
    deleted: bool


class SearchUsersInput(BaseModel):
    query: str


class SearchUsersOutput(BaseModel):
    users: list[UserOut]


class CreateUser(Event[CreateUserInput, UserOut]):
    """Create a user."""


class GetUser(Event[GetUserInput, UserOut]):
    """Fetch one user by id."""


class ListUsers(Event[ListUsersInput, ListUsersOutput]):
    pass


class UpdateUser(Event[UpdateUserInput, UserOut]):
    pass


class DeleteUser(Event[DeleteUserInput, DeletedOutput]):
    pass


@api_endpoint(
    path="/users/search",
    method="POST",
    tags=["Users", "Search"],
    summary="Search users by criteria",
)
class SearchUsers(Event[SearchUsersInput, SearchUsersOutput]):
    pass


@exclude_from_api  # Not exposed as REST endpoint
class InternalSyncEvent(Event[EventInput, EventOutput]):
    pass


@dataclass
class PingInput(EventInput):
    count: int = 1


@dataclass
class PingOutput(EventOutput):
    pongs: int = 0


class GetPing(Event[PingInput, PingOutput]):
    """A dataclass-typed event with no id field: GET /pings/{ping_id} would not fit, so it is custom."""


@module(name="users", description="User management")
class UserModule(Module):
    def __init__(self) -> None:
        self.users: dict[int, UserOut] = {1: UserOut(user_id=1, name="Ada", email="ada@example.com")}

    def can_handle(self, event: Event) -> bool:
        return isinstance(event, (CreateUser, GetUser, ListUsers, UpdateUser, DeleteUser, SearchUsers))

    async def handle(self, event: Event) -> None:
        if isinstance(event, CreateUser):
            user = UserOut(
                user_id=max(self.users, default=0) + 1, name=event.input.name, email=event.input.email
            )
            self.users[user.user_id] = user
            event.output = user
        elif isinstance(event, GetUser):
            found = self.users.get(event.input.user_id)
            if found is None:
                return  # not handled: the host answers NOT_FOUND
            event.output = found
        elif isinstance(event, ListUsers):
            page = list(self.users.values())[event.input.offset : event.input.offset + event.input.limit]
            event.output = ListUsersOutput(users=page, tags=event.input.tags)
        elif isinstance(event, UpdateUser):
            user = self.users[event.input.user_id].model_copy(update={"name": event.input.name})
            self.users[user.user_id] = user
            event.output = user
        elif isinstance(event, DeleteUser):
            event.output = DeletedOutput(deleted=self.users.pop(event.input.user_id, None) is not None)
        elif isinstance(event, SearchUsers):
            q = event.input.query.lower()
            event.output = SearchUsersOutput(users=[u for u in self.users.values() if q in u.name.lower()])
        event.handled = True
