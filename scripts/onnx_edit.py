#!/usr/bin/env python3
"""Deterministic edits of an ONNX model's graph signature, made on the protobuf wire format with the
standard library only: every other byte of the file is copied as it is, so the same input always gives
the same output (scripts/setup pins its sha256). The weights and nodes are never touched.

  strip-initializer-inputs IN OUT
      Removes from the graph inputs every input that is also an initializer. Some exporters (MXNet,
      for SFace 2021dec) list all weights as graph inputs; ONNX Runtime must then treat each weight as
      overridable at run time and cannot constant-fold them.

  free-spatial-dims IN OUT
      Makes the first input's height and width (dims 2 and 3) and every output's dim 1 symbolic, and
      drops the graph's value_info (intermediate shapes inferred for the old size). For a fully
      convolutional detector whose reshapes use -1 and whose resizes use scales (YuNet 2023mar), the
      exported 640x640 is then no longer forced: a 250x250 photo runs at 256x256.

  prelu-as-relu IN OUT
      Rewrites every PRelu node y = PRelu(x, slope) as y = Relu(x) + slope * Min(x, 0), with one
      scalar zero added as an initializer. Exact for any slope (for x > 0: x + slope * 0; otherwise
      0 + slope * x), unlike max(x, slope * x), which needs 0 <= slope <= 1 (SFace 2021dec has
      negative slopes and some above 1). ONNX Runtime's CPU PRelu with a [C,1,1] slope takes a slow
      broadcast path and leaves the blocked layout; the four elementwise ops stay in it. Only these
      nodes change; the weights, the other nodes and their order are copied as they are.
"""
import sys

# Field numbers from onnx.proto.
MODEL_GRAPH = 7
GRAPH_NODE = 1
NODE_INPUT, NODE_OUTPUT, NODE_NAME, NODE_OP_TYPE = 1, 2, 3, 4
TENSOR_DATA_TYPE, TENSOR_RAW_DATA, FLOAT = 2, 9, 1
GRAPH_INITIALIZER, GRAPH_INPUT, GRAPH_OUTPUT, GRAPH_VALUE_INFO = 5, 11, 12, 13
TENSOR_NAME = 8
VALUE_INFO_NAME, VALUE_INFO_TYPE = 1, 2
TYPE_TENSOR = 1
TENSOR_TYPE_SHAPE = 2
SHAPE_DIM = 1
DIM_PARAM = 2


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


def message(num, payload):
    return encode_varint((num << 3) | 2) + encode_varint(len(payload)) + payload


def rewrite(msg, num, fn):
    """Copies `msg`, passing each length-delimited field `num` through fn(payload, index): the result
    replaces the payload, or None drops the field."""
    out, index = bytearray(), 0
    for n, wt, raw, payload in fields(msg):
        if n == num and wt == 2:
            new = fn(payload, index)
            index += 1
            if new is not None:
                out += message(num, new)
        else:
            out += raw
    return bytes(out)


def name_of(msg, field):
    for num, wt, _, payload in fields(msg):
        if num == field and wt == 2:
            return payload.decode("utf-8")
    return None


def on_graph(model, fn):
    return rewrite(model, MODEL_GRAPH, lambda graph, _: fn(graph))


def strip_initializer_inputs(model):
    def graph_fn(graph):
        initializers = {name_of(p, TENSOR_NAME) for n, wt, _, p in fields(graph) if n == GRAPH_INITIALIZER and wt == 2}
        return rewrite(graph, GRAPH_INPUT, lambda vi, _: None if name_of(vi, VALUE_INFO_NAME) in initializers else vi)

    return on_graph(model, graph_fn)


def symbolic_dims(value_info, names):
    """Replaces dims {index: symbol} of a tensor ValueInfoProto with symbolic dims."""
    def dim_fn(dim, i):
        return message(DIM_PARAM, names[i].encode()) if i in names else dim

    shape_fn = lambda shape, _: rewrite(shape, SHAPE_DIM, dim_fn)
    tensor_fn = lambda tensor, _: rewrite(tensor, TENSOR_TYPE_SHAPE, shape_fn)
    type_fn = lambda typ, _: rewrite(typ, TYPE_TENSOR, tensor_fn)
    return rewrite(value_info, VALUE_INFO_TYPE, type_fn)


def free_spatial_dims(model):
    def graph_fn(graph):
        graph = rewrite(graph, GRAPH_INPUT, lambda vi, i: symbolic_dims(vi, {2: "height", 3: "width"}) if i == 0 else vi)
        graph = rewrite(graph, GRAPH_OUTPUT, lambda vi, _: symbolic_dims(vi, {1: "anchors"}))
        return rewrite(graph, GRAPH_VALUE_INFO, lambda vi, _: None)

    return on_graph(model, graph_fn)


def strings_of(msg, field):
    return [p.decode("utf-8") for n, wt, _, p in fields(msg) if n == field and wt == 2]


def node(op, inputs, outputs, name):
    body = b"".join(message(NODE_INPUT, i.encode()) for i in inputs)
    body += b"".join(message(NODE_OUTPUT, o.encode()) for o in outputs)
    return body + message(NODE_NAME, name.encode()) + message(NODE_OP_TYPE, op.encode())


ZERO = "prelu_as_relu_zero"


def prelu_as_relu(model):
    def graph_fn(graph):
        out, rewritten = bytearray(), 0
        for n, wt, raw, payload in fields(graph):
            if n == GRAPH_NODE and wt == 2 and strings_of(payload, NODE_OP_TYPE) == ["PRelu"]:
                (x, slope), (y,) = strings_of(payload, NODE_INPUT), strings_of(payload, NODE_OUTPUT)
                name = (strings_of(payload, NODE_NAME) or [y])[0]
                for op, ins, o in [
                    ("Relu", [x], f"{y}/relu"),
                    ("Min", [x, ZERO], f"{y}/min"),
                    ("Mul", [f"{y}/min", slope], f"{y}/neg"),
                    ("Add", [f"{y}/relu", f"{y}/neg"], y),
                ]:
                    out += message(GRAPH_NODE, node(op, ins, [o], f"{name}/{op.lower()}"))
                rewritten += 1
            else:
                out += raw
        if rewritten == 0:
            sys.exit("prelu-as-relu: the graph has no PRelu node")
        zero = message(TENSOR_NAME, ZERO.encode()) + encode_varint((TENSOR_DATA_TYPE << 3) | 0) + encode_varint(FLOAT)
        zero += message(TENSOR_RAW_DATA, bytes(4))
        return bytes(out) + message(GRAPH_INITIALIZER, zero)

    return on_graph(model, graph_fn)


EDITS = {
    "strip-initializer-inputs": strip_initializer_inputs,
    "free-spatial-dims": free_spatial_dims,
    "prelu-as-relu": prelu_as_relu,
}

if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in EDITS:
        sys.exit(__doc__)
    src = open(sys.argv[2], "rb").read()
    with open(sys.argv[3], "wb") as f:
        f.write(EDITS[sys.argv[1]](src))
