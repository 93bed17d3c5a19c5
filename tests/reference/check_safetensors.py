#!/usr/bin/env python3
"""Check a safetensors file that vkgrad wrote, reading it by hand with numpy.

The file is parsed from the bytes up (struct, json, numpy.frombuffer) on purpose, so it does
not share a single line with vkgrad's reader nor rely on the `safetensors` package:

    8-byte little-endian u64 N | N bytes of JSON header | data area

Checks the layout (header length in range, header a JSON object without duplicate keys, known
fields and dtypes, data_offsets that tile the data area exactly, __metadata__ string -> string),
prints each tensor's name, dtype, shape and a few values, and optionally compares them:

    check_safetensors.py FILE                      layout check and listing only
    check_safetensors.py FILE --npz REF.npz        every array in REF.npz must be in FILE, equal
    check_safetensors.py FILE --expect-reference   the known contents that the C++ test
                                                   "safetensors: reference file for
                                                   check_safetensors.py" writes to
                                                   /tmp/vkgrad_check.safetensors

Nothing vkgrad-specific (header padding, tensor order) is required of a valid file; with
--expect-reference the padding vkgrad promises is checked as well. Exits 1 on any failure.
"""
import argparse
import json
import struct
import sys

import numpy as np

# safetensors dtype -> numpy dtype (little-endian); BF16 is decoded separately.
DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?",
}
MAX_HEADER = 100_000_000


class Invalid(Exception):
    pass


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    dup = {k for k in keys if keys.count(k) > 1}
    if dup:
        raise Invalid(f"duplicate keys in the header: {sorted(dup)}")
    return dict(pairs)


def read(path):
    """Returns (tensors: dict name -> (dtype, ndarray) in header order, metadata, header length)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise Invalid(f"{len(raw)} bytes: too short for the 8-byte header length")
    (n,) = struct.unpack("<Q", raw[:8])
    if n == 0 or n > MAX_HEADER or 8 + n > len(raw):
        raise Invalid(f"header length {n} is not in [1, min({MAX_HEADER}, {len(raw) - 8})]")
    header = json.loads(raw[8:8 + n].decode("utf-8"), object_pairs_hook=no_duplicates)
    if not isinstance(header, dict):
        raise Invalid("the header is not a JSON object")
    data = raw[8 + n:]

    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise Invalid(f"__metadata__ must map strings to strings, got {metadata!r}")

    spans, tensors = [], {}
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise Invalid(f"tensor {name!r}: entry must have exactly dtype, shape, data_offsets: {info!r}")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in DTYPES:
            raise Invalid(f"tensor {name!r}: unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise Invalid(f"tensor {name!r}: bad shape {shape!r}")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(type(o) is int and o >= 0 for o in offsets) or offsets[0] > offsets[1]):
            raise Invalid(f"tensor {name!r}: bad data_offsets {offsets!r}")
        begin, end = offsets
        itemsize = np.dtype(DTYPES[dtype]).itemsize
        count = int(np.prod(shape, dtype=object)) if shape else 1
        if end - begin != count * itemsize or end > len(data):
            raise Invalid(f"tensor {name!r}: data_offsets {offsets} do not hold {shape} of {dtype} "
                          f"inside a data area of {len(data)} bytes")
        spans.append((begin, end, name))
        arr = np.frombuffer(data, dtype=DTYPES[dtype], count=count, offset=begin).reshape(shape)
        if dtype == "BF16":  # bfloat16 is the upper half of a float32
            arr = (arr.astype("<u4") << 16).view("<f4")
        tensors[name] = (dtype, arr)

    pos = 0
    for begin, end, name in sorted(spans):
        if begin != pos:
            raise Invalid(f"tensor {name!r} starts at {begin}, expected {pos} (gap or overlap)")
        pos = end
    if pos != len(data):
        raise Invalid(f"tensors cover {pos} bytes of a {len(data)}-byte data area")
    return tensors, metadata, n


def expect_equal(failures, what, got, want):
    got, want = np.asarray(got), np.asarray(want)
    ok = got.shape == want.shape and got.dtype == want.dtype and got.tobytes() == want.tobytes()  # bit-exact
    print(f"  {'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        failures.append(f"{what}: got {got.dtype}{list(got.shape)} {got.ravel()[:8]}, "
                        f"want {want.dtype}{list(want.shape)} {want.ravel()[:8]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("--npz", help="reference arrays: each must be in the file with the same dtype and values")
    ap.add_argument("--expect-reference", action="store_true",
                    help="check the contents the C++ test writes to /tmp/vkgrad_check.safetensors")
    args = ap.parse_args()

    try:
        tensors, metadata, n = read(args.file)
    except (Invalid, ValueError, UnicodeDecodeError) as e:  # json errors are ValueErrors
        print(f"{args.file}: INVALID: {e}")
        return 1

    print(f"{args.file}: header {n} bytes, data area starts at byte {8 + n}, {len(tensors)} tensors")
    print(f"  metadata: {metadata}")
    for name, (dtype, arr) in tensors.items():
        print(f"  {name!r}: {dtype} shape {list(arr.shape)} values {arr.ravel()[:6].tolist()}")

    failures = []
    if args.npz:
        with np.load(args.npz) as ref:
            for key in ref.files:
                if key not in tensors:
                    failures.append(f"{key}: missing from the file")
                    continue
                expect_equal(failures, f"{key} == npz", tensors[key][1], ref[key])
    if args.expect_reference:
        expect_equal(failures, "header padded to a multiple of 8", (8 + n) % 8, 0)
        want = {
            "a": ("F32", np.arange(6, dtype="<f4").reshape(2, 3)),
            "b": ("F64", np.array([-1.5, 2.25], dtype="<f8")),
            "c": ("I64", np.array([2**40, -3], dtype="<i8")),
            "s": ("F32", np.array(0.1, dtype="<f4")),
            "e": ("I64", np.zeros((2, 0), dtype="<i8")),
        }
        expect_equal(failures, "tensor names and order", np.array(list(tensors)), np.array(list(want)))
        for name, (dtype, arr) in want.items():
            if name not in tensors:
                failures.append(f"{name}: missing from the file")
                continue
            expect_equal(failures, f"{name} dtype {dtype}", np.array(tensors[name][0]), np.array(dtype))
            expect_equal(failures, f"{name} values", tensors[name][1], arr)
        expect_equal(failures, "metadata", np.array(json.dumps(metadata)), np.array(json.dumps({"step": "7"})))

    for f in failures:
        print(f"FAILED: {f}")
    print("all checks passed" if not failures else f"{len(failures)} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
