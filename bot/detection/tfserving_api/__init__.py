"""Wire-compatible messages and stubs for the part of TF Serving's gRPC API the bot uses.

The `.proto` files here are written for the bot (only the fields it reads or writes; protobuf
skips the rest); the `*_pb2*` modules are generated from them by `scripts/generate_protos.py`,
and CI checks that regenerating gives the committed files. Nothing here imports TensorFlow.
"""
