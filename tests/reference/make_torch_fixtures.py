#!/usr/bin/python3
"""Writes tests/fixtures/torch/: small torch.save files (zip and legacy), plain pickles at
protocols 0-5, tensors and numpy arrays pickled by value, and hostile pickles — each with a JSON
description of the value the C++ reader must produce (test_torch_file.cpp).

Run with /usr/bin/python3 (torch 1.13, numpy). Deterministic: the same bytes every run, except
the storage keys of legacy files, which torch takes from pointer values."""
import collections
import io
import json
import os
import pickle
import pickletools
import struct
import zipfile

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "torch")


def encode(x):
    """The typed JSON tree test_torch_file.cpp compares a PyObject against."""
    if x is None:
        return {"t": "none"}
    if isinstance(x, (bool, np.bool_)):
        return {"t": "bool", "v": bool(x)}
    if isinstance(x, (int, np.integer)):
        x = int(x)
        if -2**63 <= x < 2**63:
            return {"t": "int", "v": x}
        return {"t": "bigint", "hex": pickle.encode_long(x).hex()}
    if isinstance(x, (float, np.floating)):
        return {"t": "float", "v": float(x)}
    if isinstance(x, str):
        return {"t": "str", "v": x}
    if isinstance(x, (bytes, bytearray)):
        return {"t": "bytes", "hex": bytes(x).hex()}
    if isinstance(x, torch.Tensor):
        t = x.detach()
        dtype = str(t.dtype).replace("torch.", "")
        vals = t.float() if t.dtype in (torch.float16, torch.bfloat16) else t
        return {"t": "tensor", "dtype": dtype, "shape": list(t.shape), "values": vals.reshape(-1).tolist()}
    if isinstance(x, np.ndarray):
        return {"t": "tensor", "dtype": x.dtype.name, "shape": list(x.shape), "values": x.reshape(-1).tolist()}
    if isinstance(x, dict):
        return {"t": "dict", "items": [[encode(k), encode(v)] for k, v in x.items()]}
    for typ, name in ((list, "list"), (tuple, "tuple"), (set, "set"), (frozenset, "set")):
        if isinstance(x, typ):
            return {"t": name, "items": [encode(v) for v in x]}
    raise TypeError(type(x))


def write(name, data, expected, extra=None):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    doc = {"file": name, "expected": expected}
    doc.update(extra or {})
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(doc, f, indent=None, allow_nan=False)


def torch_object():
    g = torch.Generator().manual_seed(5)
    base = torch.randn(3, 4, generator=g)
    big = torch.arange(20, dtype=torch.float32).reshape(4, 5)
    shared = torch.arange(6, dtype=torch.float64)
    lin = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    with torch.no_grad():
        for i, p in enumerate(lin.parameters()):
            p.copy_(torch.randn(p.shape, generator=g))
    return {
        "f32": torch.randn(2, 3, generator=g),
        "f16": torch.tensor([1.5, -2.25, 65504.0, 6.1e-5], dtype=torch.float16),
        "bf16": torch.tensor([1.0, -3.140625, 1e30], dtype=torch.bfloat16),
        "f64": torch.tensor([[1e-300, -2.5], [3.0, 1e300]], dtype=torch.float64),
        "i64": torch.tensor([-(2**62), 7, 2**53 + 1], dtype=torch.int64),
        "i32": torch.tensor([-5, 2**31 - 1], dtype=torch.int32),
        "i16": torch.tensor([-32768, 12], dtype=torch.int16),
        "i8": torch.tensor([-128, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 1, 200, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
        "transposed": base.t(),
        "sliced": big[1:, 1:4],
        "shared_a": shared[:4],
        "shared_b": shared[2:].view(2, 2),
        "param": torch.nn.Parameter(torch.tensor([0.25, -0.5])),
        "state_dict": lin.state_dict(),
        "meta": [1, "two", (3.0, None)],
    }


def to_zip64(data):
    """The same archive with zip64 local headers (force_zip64) and zip64 end records: the end of
    central directory holds 0xFFFF / 0xFFFFFFFF and the real values live in the zip64 record."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for info in src.infolist():
            with z.open(zipfile.ZipInfo(info.filename, info.date_time), "w", force_zip64=True) as f:
                f.write(src.read(info.filename))
    b = out.getvalue()
    assert b[-22:-18] == b"PK\x05\x06", "expected a plain end record without comment"
    count, cd_size, cd_offset = struct.unpack("<HII", b[-22 + 10:-22 + 20])
    body = b[:-22]
    z64 = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, cd_size, cd_offset)
    locator = struct.pack("<IIQI", 0x07064B50, 0, len(body), 1)
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return body + z64 + locator + eocd


def main():
    os.makedirs(OUT, exist_ok=True)
    obj = torch_object()
    expected = encode(obj)
    buf = io.BytesIO()
    torch.save(obj, buf)
    write("zip_dict.pt", buf.getvalue(), expected)
    write("zip64_dict.pt", to_zip64(buf.getvalue()), expected)
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=False)
    write("legacy_dict.pt", buf.getvalue(), expected)
    t = torch.arange(6, dtype=torch.float32).reshape(2, 3) / 4
    buf = io.BytesIO()
    torch.save(t.t(), buf)
    write("zip_tensor.pt", buf.getvalue(), encode(t.t()))

    shared = [1, 2, "x"]
    plain = {
        "none": None, "t": True, "f": False,
        "ints": [0, 1, -1, 255, 256, 65535, 65536, -2**31, 2**31 - 1, 2**31, -2**63, 2**63 - 1],
        "floats": [0.0, -0.0, 1.5, -1e300, 5e-324, 0.1],
        "text": ["", "ascii", "h\u00e9llo \u2713 \U0001F600", "a\nb\\u"],
        "bytes": [b"", b"\x00\xff\x80abc", bytes(range(256)) * 2],
        "tuple": (1, (2, (3,)), ()),
        "set": {1, 2, 3}, "frozenset": frozenset({"a"}),
        "shared1": shared, "shared2": shared, "nested": [[[]], {}],
        7: "int key",
    }
    for proto in range(6):
        value = dict(plain)
        if proto >= 2:
            value["big"] = [2**63, -2**63 - 1, 2**70, -2**100, 2**64 - 1]
        data = pickle.dumps(value, protocol=proto)
        write(f"plain_p{proto}.pkl", data, encode(value), {"shared": [["shared1", "shared2"]]})

    # Tensors pickled by value: storages become torch.storage._load_from_bytes(legacy blob).
    tens = {"w": torch.arange(5, dtype=torch.float32) / 8, "h": torch.tensor([1.0, 2.0], dtype=torch.float16),
            "view": torch.arange(12, dtype=torch.int64).reshape(3, 4)[:, 1::2],
            "p": torch.nn.Parameter(torch.tensor([[1.0, -1.0]]))}
    data = pickle.dumps(tens, protocol=2)
    assert b"_load_from_bytes" in data
    write("tensor_p2.pkl", data, encode(tens))
    write("tensor_p4.pkl", pickle.dumps(tens, protocol=4), encode(tens))

    arrays = {"f32": np.arange(6, dtype=np.float32).reshape(2, 3) / 3,
              "i64": np.array([-3, 0, 2**40], dtype=np.int64),
              "fortran": np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3)),
              "big_endian": np.array([1.5, -2.0], dtype=">f8"),
              "u8": np.array([1, 255], dtype=np.uint8), "b": np.array([True, False]),
              "s64": np.float64(0.75), "si": np.int64(-9), "s32": np.float32(1.25)}
    for proto in (2, 4):
        write(f"numpy_p{proto}.pkl", pickle.dumps(arrays, protocol=proto), encode(arrays))

    # Hostile pickles: never to be executed. Built by hand so the names are exactly these.
    cmd = b"touch /tmp/pwned_vkgrad"
    os_system = b"\x80\x02cos\nsystem\nq\x00X" + len(cmd).to_bytes(4, "little") + cmd + b"\x85R."
    write("evil_os_system.pkl", os_system, None, {"opaque": "os.system"})
    code = b"__import__('os').system('touch /tmp/pwned_vkgrad')"
    ev = b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93X" + len(code).to_bytes(4, "little") + code + b"\x85R."
    write("evil_eval.pkl", ev, None, {"opaque": "builtins.eval"})
    # A tensor whose "storage" is the result of os.system: must be an error naming os.system.
    fake = (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(cos\nsystem\nX" + len(cmd).to_bytes(4, "little") + cmd +
            b"\x85RK\x00K\x01\x85K\x01\x85\x89ccollections\nOrderedDict\n)RtR.")
    write("evil_tensor.pkl", fake, None, {"error": "os.system"})
    for name in ("evil_os_system.pkl", "evil_eval.pkl", "evil_tensor.pkl"):
        pickletools.dis(open(os.path.join(OUT, name), "rb").read(), out=io.StringIO())  # well-formed
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total} bytes")


if __name__ == "__main__":
    main()
