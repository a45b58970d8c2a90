"""The sans-IO Faktory Work Protocol engine: no sockets and no event loop in this package."""

from faktory_core.protocol.buffer import DEFAULT_MAX_LINE, LineBuffer, LineTooLong
from faktory_core.protocol.client import (
    Bulk,
    ErrorReply,
    Hi,
    Integer,
    ProtocolViolation,
    Reply,
    ReplyParser,
    SimpleString,
    encode_command,
    encode_hello,
    encode_json_command,
    parse_hi,
)
from faktory_core.protocol.events import (
    NEED_DATA,
    Command,
    ConnectionClosed,
    Hello,
    LineTooLongEvent,
    NeedData,
)
from faktory_core.protocol.password import hash_password
from faktory_core.protocol.server import PROTOCOL_VERSION, ServerConnection, parse_hello
from faktory_core.protocol.states import State

__all__ = [
    "DEFAULT_MAX_LINE",
    "NEED_DATA",
    "PROTOCOL_VERSION",
    "Bulk",
    "Command",
    "ConnectionClosed",
    "ErrorReply",
    "Hello",
    "Hi",
    "Integer",
    "LineBuffer",
    "LineTooLong",
    "LineTooLongEvent",
    "NeedData",
    "ProtocolViolation",
    "Reply",
    "ReplyParser",
    "ServerConnection",
    "SimpleString",
    "State",
    "encode_command",
    "encode_hello",
    "encode_json_command",
    "hash_password",
    "parse_hello",
    "parse_hi",
]
