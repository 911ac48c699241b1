"""Minimal GGUF v3 writer/reader (little-endian) written for swapmoe's training tools.

Only what the shakespeare-moe export needs: scalar/string/array metadata and tensors of type
F32, F16 and Q8_0. Shapes follow GGUF's convention: dims are listed innermost-first
(ne[0] = row length), so a numpy array of shape (a, b, c) is stored with dims [c, b, a].
"""
import struct

import numpy as np

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3

# metadata value types
T_UINT8, T_INT8, T_UINT16, T_INT16, T_UINT32, T_INT32, T_FLOAT32, T_BOOL, T_STRING, T_ARRAY, \
    T_UINT64, T_INT64, T_FLOAT64 = range(13)
_SCALAR_FMT = {T_UINT8: "<B", T_INT8: "<b", T_UINT16: "<H", T_INT16: "<h", T_UINT32: "<I",
               T_INT32: "<i", T_FLOAT32: "<f", T_BOOL: "<?", T_UINT64: "<Q", T_INT64: "<q",
               T_FLOAT64: "<d"}

# ggml tensor types used here
GGML_F32, GGML_F16, GGML_Q8_0 = 0, 1, 8
QK8_0 = 32


# ----------------------------------------------------------------------------- Q8_0
def quantize_q8_0(x):
    """llama.cpp's reference Q8_0: blocks of 32 along the row; d = max|x|/127 stored as fp16,
    q = round(x * (1/d)) (round half away from zero). Returns raw bytes (34 bytes/block)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    assert x.shape[-1] % QK8_0 == 0
    blocks = x.reshape(-1, QK8_0)
    amax = np.abs(blocks).max(axis=1)
    d = (amax / np.float32(127.0)).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv = np.where(d != 0, np.float32(1.0) / d, np.float32(0.0)).astype(np.float32)
    v = blocks * inv[:, None]
    q = (np.sign(v) * np.floor(np.abs(v) + np.float32(0.5))).astype(np.int8)
    out = np.empty(blocks.shape[0], dtype=[("d", "<f2"), ("qs", "i1", (QK8_0,))])
    out["d"] = d.astype(np.float16)
    out["qs"] = q
    return out.tobytes()


def dequantize_q8_0(buf, n):
    blocks = np.frombuffer(buf, dtype=[("d", "<f2"), ("qs", "i1", (QK8_0,))], count=n // QK8_0)
    return (blocks["qs"].astype(np.float32) * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


def type_nbytes(ggml_type, n):
    if ggml_type == GGML_F32:
        return 4 * n
    if ggml_type == GGML_F16:
        return 2 * n
    if ggml_type == GGML_Q8_0:
        return n // QK8_0 * (2 + QK8_0)
    raise ValueError(ggml_type)


# ----------------------------------------------------------------------------- writer
def _pack_str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _pack_value(vtype, value, elem_type=None):
    if vtype == T_STRING:
        return _pack_str(value)
    if vtype == T_ARRAY:
        out = [struct.pack("<IQ", elem_type, len(value))]
        if elem_type == T_STRING:
            out.extend(_pack_str(v) for v in value)
        else:
            out.append(np.asarray(value, dtype=np.dtype(_SCALAR_FMT[elem_type])).tobytes())
        return b"".join(out)
    return struct.pack(_SCALAR_FMT[vtype], value)


class GGUFWriter:
    def __init__(self, alignment=32):
        self.alignment = alignment
        self.kv = []        # (key, vtype, value, elem_type)
        self.tensors = []   # (name, dims(list, innermost first), ggml_type, bytes)

    def add(self, key, vtype, value, elem_type=None):
        self.kv.append((key, vtype, value, elem_type))

    def add_tensor(self, name, array, ggml_type):
        a = np.ascontiguousarray(array, dtype=np.float32)
        dims = list(reversed(a.shape))
        if ggml_type == GGML_F32:
            data = a.astype("<f4").tobytes()
        elif ggml_type == GGML_F16:
            data = a.astype("<f2").tobytes()
        elif ggml_type == GGML_Q8_0:
            data = quantize_q8_0(a)
        else:
            raise ValueError(ggml_type)
        assert len(data) == type_nbytes(ggml_type, a.size)
        self.tensors.append((name, dims, ggml_type, data))

    def write(self, path):
        al = self.alignment
        pad = lambda n: (al - n % al) % al
        head = [GGUF_MAGIC, struct.pack("<IQQ", GGUF_VERSION, len(self.tensors), len(self.kv))]
        for key, vtype, value, et in self.kv:
            head.append(_pack_str(key) + struct.pack("<I", vtype) + _pack_value(vtype, value, et))
        offset = 0
        offsets = []
        for name, dims, gt, data in self.tensors:
            offsets.append(offset)
            head.append(_pack_str(name) + struct.pack("<I", len(dims)) +
                        struct.pack("<%dQ" % len(dims), *dims) + struct.pack("<IQ", gt, offset))
            offset += len(data) + pad(len(data))
        head = b"".join(head)
        with open(path, "wb") as f:
            f.write(head)
            f.write(b"\0" * pad(len(head)))
            for (name, dims, gt, data), off in zip(self.tensors, offsets):
                f.write(data)
                f.write(b"\0" * pad(len(data)))


# ----------------------------------------------------------------------------- reader
class GGUFReader:
    """Reads metadata (dict key -> python value) and tensors (name -> (dims, type, bytes))."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.buf = f.read()
        self.pos = 0
        if self.buf[:4] != GGUF_MAGIC:
            raise ValueError("not a GGUF file")
        self.pos = 4
        version, n_t, n_kv = self._unpack("<IQQ")
        if version != GGUF_VERSION:
            raise ValueError("unsupported GGUF version %d" % version)
        self.meta = {}
        self.meta_types = {}
        for _ in range(n_kv):
            key = self._str()
            (vt,) = self._unpack("<I")
            self.meta[key] = self._value(vt)
            self.meta_types[key] = vt
        infos = []
        for _ in range(n_t):
            name = self._str()
            (nd,) = self._unpack("<I")
            dims = list(self._unpack("<%dQ" % nd))
            gt, off = self._unpack("<IQ")
            infos.append((name, dims, gt, off))
        al = self.meta.get("general.alignment", 32)
        data_start = self.pos + (al - self.pos % al) % al
        self.tensors = {}
        for name, dims, gt, off in infos:
            n = int(np.prod(dims))
            start = data_start + off
            self.tensors[name] = (dims, gt, self.buf[start:start + type_nbytes(gt, n)])
        self.tensor_order = [i[0] for i in infos]

    def _unpack(self, fmt):
        v = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return v

    def _str(self):
        (n,) = self._unpack("<Q")
        s = self.buf[self.pos:self.pos + n].decode("utf-8")
        self.pos += n
        return s

    def _value(self, vt):
        if vt == T_STRING:
            return self._str()
        if vt == T_ARRAY:
            et, n = self._unpack("<IQ")
            if et == T_STRING:
                return [self._str() for _ in range(n)]
            dt = np.dtype(_SCALAR_FMT[et])
            a = np.frombuffer(self.buf, dtype=dt, count=n, offset=self.pos)
            self.pos += dt.itemsize * n
            return a.copy()
        return self._unpack(_SCALAR_FMT[vt])[0]

    def array(self, name):
        """Dequantised float32 numpy array, shape = reversed GGUF dims."""
        dims, gt, data = self.tensors[name]
        n = int(np.prod(dims))
        if gt == GGML_F32:
            a = np.frombuffer(data, dtype="<f4", count=n).astype(np.float32)
        elif gt == GGML_F16:
            a = np.frombuffer(data, dtype="<f2", count=n).astype(np.float32)
        elif gt == GGML_Q8_0:
            a = dequantize_q8_0(data, n)
        else:
            raise ValueError("unsupported tensor type %d" % gt)
        return a.reshape(list(reversed(dims)))
