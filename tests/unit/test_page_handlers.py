"""The hand-built PageService handler table (gateway/server.py) serves the proto's service:
every method, each with the proto's request and response types."""

from __future__ import annotations

import typing

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message

from gateway.server import PAGE_SERVICE, page_handlers
from gateway.servicer import PageServicer

METHODS = {method.name: method for method in PAGE_SERVICE.methods}
# The table only takes the servicer's bound methods, so no renderer or reporter is needed.
HANDLERS = page_handlers(PageServicer.__new__(PageServicer))


def sample(descriptor: Descriptor) -> Message:
    """A message of `descriptor`'s type with its singular strings and bools set, so that
    it does not encode as the empty message that parses as any type."""
    message = message_factory.GetMessageClass(descriptor)()
    for field in descriptor.fields:
        if field.is_repeated:
            continue
        if field.type == FieldDescriptor.TYPE_STRING:
            setattr(message, field.name, f"{field.name}-1")
        elif field.type == FieldDescriptor.TYPE_BOOL:
            setattr(message, field.name, True)
    return message


def test_the_table_has_a_handler_for_every_method_of_the_proto_service() -> None:
    assert sorted(HANDLERS) == sorted(METHODS)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_a_handler_calls_the_servicer_method_of_its_name_unary_unary(name: str) -> None:
    method: MethodDescriptor = METHODS[name]
    handler: grpc.RpcMethodHandler = HANDLERS[name]
    assert (handler.request_streaming, handler.response_streaming) == (
        method.client_streaming,
        method.server_streaming,
    )
    assert handler.unary_unary is not None
    assert handler.unary_unary.__name__ == name


@pytest.mark.parametrize("name", sorted(METHODS))
def test_a_handler_reads_the_request_type_of_its_method(name: str) -> None:
    method: MethodDescriptor = METHODS[name]
    request = sample(method.input_type)
    deserializer = HANDLERS[name].request_deserializer
    assert deserializer is not None
    parsed = deserializer(request.SerializeToString())
    assert parsed.DESCRIPTOR.full_name == method.input_type.full_name
    assert parsed == request


@pytest.mark.parametrize("name", sorted(METHODS))
def test_a_handler_sends_what_its_servicer_returns_as_the_response_type_of_its_method(
    name: str,
) -> None:
    """A servicer method returns either the response message or, to skip a second
    serialization, its encoding (annotated `bytes`); the handler sends either as the
    method's response type."""
    method: MethodDescriptor = METHODS[name]
    response = sample(method.output_type)
    returns = typing.get_type_hints(getattr(PageServicer, name))["return"]
    if returns is bytes:
        returned: Message | bytes = response.SerializeToString()
    else:
        assert returns.DESCRIPTOR.full_name == method.output_type.full_name
        returned = response
    serializer = HANDLERS[name].response_serializer
    assert serializer is not None
    sent = serializer(returned)
    assert message_factory.GetMessageClass(method.output_type).FromString(sent) == response
