"""The one data convention of radfuse: modality blocks in a wide feature table.

A feature table has one row per patient and one column per ``"<MODALITY>__<feature>"``. The
columns sharing a modality prefix form a *block*. A patient lacking a modality has the whole block
NaN; NaN inside an otherwise present block is a bad value and is reported, never taken for a
missing modality.

:mod:`radfuse.modality.names` is the only place in radfuse that splits or formats column names;
:mod:`radfuse.modality.layout` holds the :class:`ModalityLayout` of a table.
"""

from radfuse.modality.layout import ModalityLayout, check_blocks, infer_modalities, presence_mask
from radfuse.modality.names import SEP, format_name, split_name

__all__ = [
    "SEP",
    "ModalityLayout",
    "check_blocks",
    "format_name",
    "infer_modalities",
    "presence_mask",
    "split_name",
]
