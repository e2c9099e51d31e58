"""The descriptor pool of the bot's own TF Serving messages.

The messages keep TensorFlow's full names, which `tensorflow_serving.apis` also registers in
protobuf's default pool; a private pool lets both live in one process (tests cross-check them).
The well-known types the messages use (`Any`, `Int64Value`) are added to it first.
"""

from __future__ import annotations

from google.protobuf import any_pb2, descriptor_pool, wrappers_pb2

POOL = descriptor_pool.DescriptorPool()
for _well_known in (any_pb2, wrappers_pb2):
    POOL.AddSerializedFile(_well_known.DESCRIPTOR.serialized_pb)
