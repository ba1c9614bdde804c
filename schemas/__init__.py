"""Pydantic models of every on-disk format, conversions, and JSONL validation.

Imports nothing heavy (no torch, prefect or presidio).
"""
from schemas.alpaca import AlpacaExample
from schemas.convert import ConversionError, convert, from_record, to_record
from schemas.dpo import DPOConversational, DPOPlain
from schemas.formats import FORMATS, Format, shape_of
from schemas.manifest import FileEntry, Manifest, StepCounts
from schemas.messages import ChatExample, Message
from schemas.record import Record, RejectRow
from schemas.sharegpt import ShareGPTExample
from schemas.validate import FileReport, validate_file

__all__ = [
    "AlpacaExample", "ChatExample", "ConversionError", "DPOConversational", "DPOPlain", "FORMATS",
    "FileEntry", "FileReport", "Format", "Manifest", "Message", "Record", "RejectRow",
    "ShareGPTExample", "StepCounts", "convert", "from_record", "shape_of", "to_record", "validate_file",
]
