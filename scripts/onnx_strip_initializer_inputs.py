#!/usr/bin/env python3
"""Removes from an ONNX model's graph inputs every input that is also an initializer.

Some exporters (MXNet, for SFace 2021dec) list all weights as graph inputs. ONNX Runtime must then
treat each weight as overridable at run time, so it cannot constant-fold them. Dropping those inputs
leaves the weights as plain constants; nothing else changes.

The edit is made on the protobuf wire format with the standard library only: every other byte of the
file is copied as it is, so the result is the same for the same input (scripts/setup pins its sha256).

usage: onnx_strip_initializer_inputs.py IN.onnx OUT.onnx
"""
import sys


def varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


def encode_varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def fields(buf):
    """Yields (field number, wire type, raw bytes of the whole field, payload) in file order."""
    i = 0
    while i < len(buf):
        start = i
        key, i = varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            _, i = varint(buf, i)
            payload = None
        elif wt == 1:
            i += 8
            payload = None
        elif wt == 2:
            n, i = varint(buf, i)
            payload = buf[i:i + n]
            i += n
        elif wt == 5:
            i += 4
            payload = None
        else:
            raise ValueError(f"unsupported wire type {wt}")
        yield num, wt, buf[start:i], payload


def name_of(msg, field):
    for num, wt, _, payload in fields(msg):
        if num == field and wt == 2:
            return payload.decode("utf-8")
    return None


def strip_graph(graph):
    initializers = {name_of(p, 8) for n, wt, _, p in fields(graph) if n == 5 and wt == 2}  # TensorProto.name
    out, removed = bytearray(), 0
    for num, wt, raw, payload in fields(graph):
        if num == 11 and wt == 2 and name_of(payload, 1) in initializers:  # ValueInfoProto.name
            removed += 1
            continue
        out += raw
    return bytes(out), removed


def main(src, dst):
    model = open(src, "rb").read()
    out, removed = bytearray(), 0
    for num, wt, raw, payload in fields(model):
        if num == 7 and wt == 2:  # ModelProto.graph
            graph, removed = strip_graph(payload)
            out += encode_varint((7 << 3) | 2) + encode_varint(len(graph)) + graph
        else:
            out += raw
    with open(dst, "wb") as f:
        f.write(out)
    print(f"removed {removed} initializer inputs", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
