"""Request decoding and response encoding per RPC, in protojson shape."""
