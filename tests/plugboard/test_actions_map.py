"""The Plugboard actions map: the exact shape of the spec, nested models, types, determinism."""

from __future__ import annotations

import datetime
import enum
import uuid
from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field

from plugwork.actions import ActionRunner, action, as_action, spec_from_function
from plugwork.plugboard.schema import actions_map, json_type, model_fields


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Address(BaseModel):
    """A postal address."""

    street: str = Field(description="Street and number")
    zip_code: str = Field(alias="zip", description="Postal code")


class Tag(BaseModel):
    name: str


class Order(BaseModel):
    item: str = Field(description="What to buy")
    quantity: int = Field(1, description="How many")
    price: float = Field(description="Unit price")
    gift: bool = False
    notes: str | None = Field(None, description="Free text")
    ship_to: Address = Field(description="Where to ship")
    bill_to: Address | None = None
    tags: list[Tag] = Field(default_factory=list)
    extra: dict[str, Any] = Field(default_factory=dict)
    color: Color = Color.RED
    size: Literal["S", "M", "L"] = "M"
    when: datetime.datetime | None = None
    code: int | str = 0
    ref: uuid.UUID = Field(default_factory=uuid.uuid4)


class Node(BaseModel):
    """A tree node."""

    label: str
    parent: Node | None = None


@action(description="Place an order")
async def place_order(order: Order) -> None:
    return None


@action
async def walk(node: Node) -> None:
    """Walk a tree."""


class Greet(ActionRunner):
    """Say hello."""

    name: str = Field(description="Who to greet")

    async def run(self, ctx: Any) -> dict[str, str]:
        return {"greeting": f"hello {self.name}"}


def test_the_exact_shape_for_flat_and_nested_fields():
    spec = spec_from_function(place_order)
    assert actions_map({"place_order": spec}) == {
        "place_order": {
            "description": "Place an order",
            "fields": {
                "item": {"type": "string", "description": "What to buy"},
                "quantity": {"type": "integer", "description": "How many", "default": 1},
                "price": {"type": "number", "description": "Unit price"},
                "gift": {"type": "boolean", "description": "", "default": False},
                "notes": {"type": "string", "description": "Free text", "default": None},
                "ship_to": {
                    "type": "Address",
                    "description": "Where to ship",
                    "fields": {
                        "street": {"type": "string", "description": "Street and number"},
                        "zip": {"type": "string", "description": "Postal code"},
                    },
                },
                "bill_to": {
                    "type": "Address",
                    "description": "A postal address.",
                    "fields": {
                        "street": {"type": "string", "description": "Street and number"},
                        "zip": {"type": "string", "description": "Postal code"},
                    },
                },
                "tags": {"type": "array", "description": ""},
                "extra": {"type": "object", "description": ""},
                "color": {"type": "string", "description": "", "default": "red"},
                "size": {"type": "string", "description": "", "default": "M"},
                "when": {"type": "string", "description": "", "default": None},
                "code": {"type": "integer|string", "description": "", "default": 0},
                "ref": {"type": "string", "description": ""},
            },
        }
    }


def test_default_factories_are_left_out_so_maps_stay_identical():
    first = orjson.dumps(actions_map({"place_order": spec_from_function(place_order)}))
    second = orjson.dumps(actions_map({"place_order": spec_from_function(place_order)}))
    assert first == second  # the uuid4 default_factory of `ref` would differ otherwise


def test_actions_are_sorted_whatever_the_registration_order():
    a, b, c = spec_from_function(place_order), spec_from_function(walk), as_action(Greet)
    assert c is not None
    one = orjson.dumps(actions_map({"walk": b, "place_order": a, "Greet": c}))
    two = orjson.dumps(actions_map({"Greet": c, "place_order": a, "walk": b}))
    assert one == two
    assert list(orjson.loads(one)) == ["Greet", "place_order", "walk"]


def test_runner_style_actions_use_their_class_description_and_fields():
    spec = as_action(Greet)
    assert spec is not None
    assert actions_map({spec.name: spec}) == {
        "Greet": {
            "description": "Say hello.",
            "fields": {"name": {"type": "string", "description": "Who to greet"}},
        }
    }


def test_a_self_referencing_model_terminates():
    # the model is described once; a reference back to a model being described carries no fields
    assert model_fields(Node) == {
        "label": {"type": "string", "description": ""},
        "parent": {"type": "Node", "description": "A tree node.", "fields": {}},
    }


def test_json_type_names():
    assert json_type(str) == "string"
    assert json_type(int) == "integer"
    assert json_type(float) == "number"
    assert json_type(bool) == "boolean"
    assert json_type(list[int]) == "array"
    assert json_type(tuple[int, str]) == "array"
    assert json_type(set[str]) == "array"
    assert json_type(dict[str, int]) == "object"
    assert json_type(Tag) == "object"
    assert json_type(int | None) == "integer"
    assert json_type(None) == "null"
    assert json_type(Literal[1, 2]) == "integer"
    assert json_type(Literal["a", 1]) == "string|integer"
    assert json_type(Any) == "any"
    assert json_type(object) == "any"
