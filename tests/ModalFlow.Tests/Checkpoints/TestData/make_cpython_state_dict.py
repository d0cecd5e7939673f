"""Writes cpython_state_dict.bin + .json: a torch.save-format archive whose data.pkl is produced by CPython's own
pickler, driven exactly as torch.serialization._save drives it (Pickler(protocol=2) + persistent_id returning
('storage', torch.<T>Storage, key, location, numel); tensors reduce to torch._utils._rebuild_tensor_v2(storage,
offset, size, stride, requires_grad, OrderedDict())), with stand-in `torch` modules since PyTorch is not installed
here. The .json holds each tensor's dtype, shape and values (row-major, of the view) for OriginalTorchBinTests.

Run: python3 make_cpython_state_dict.py   (deterministic; stdlib only)
"""
import collections, io, json, pickle, struct, sys, types, zipfile

torch = types.ModuleType("torch"); utils = types.ModuleType("torch._utils")
sys.modules["torch"] = torch; sys.modules["torch._utils"] = utils; torch._utils = utils

def _rebuild_tensor_v2(*a): raise RuntimeError("never called")
_rebuild_tensor_v2.__module__ = "torch._utils"; utils._rebuild_tensor_v2 = _rebuild_tensor_v2
FMT = {"FloatStorage": ("<f", 4, "F32"), "HalfStorage": ("<e", 2, "F16"), "BFloat16Storage": (None, 2, "BF16"),
       "LongStorage": ("<q", 8, "I64"), "BoolStorage": ("<?", 1, "BOOL"), "IntStorage": ("<i", 4, "I32")}
for name in FMT:
    cls = type(name, (), {}); cls.__module__ = "torch"; setattr(torch, name, cls)

def bf16(x): return struct.pack("<f", x)[2:]
def unbf16(b): return struct.unpack("<f", b"\0\0" + b)[0]

class Storage:
    def __init__(self, kind, values):
        self.kind, self.values = kind, values
        fmt, size, _ = FMT[kind]
        self.data = b"".join(bf16(v) if fmt is None else struct.pack(fmt, v) for v in values)
        # The values as stored (fp16 / bf16 rounding applied), for the expectations.
        self.values = [unbf16(self.data[i:i + 2]) if fmt is None else struct.unpack(fmt, self.data[i:i + size])[0]
                       for i in range(0, len(self.data), size)]
    def numel(self): return len(self.values)

class Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)
    def __reduce_ex__(self, proto):
        return (_rebuild_tensor_v2, (self.storage, self.offset, self.size, self.stride, False, collections.OrderedDict()))
    def flat(self):
        out = []
        def rec(dim, off):
            if dim == len(self.size): out.append(self.storage.values[off]); return
            for i in range(self.size[dim]): rec(dim + 1, off + i * self.stride[dim])
        if all(s > 0 for s in self.size): rec(0, self.offset)
        return out

def contiguous(st, offset, size):
    stride, e = [], 1
    for s in reversed(size): stride.insert(0, e); e *= s
    return Tensor(st, offset, size, stride)

w = Storage("FloatStorage", [0.5, -1.25, 2.0, 3.5, -0.0, 1e-3])
flat = Storage("FloatStorage", [float(i) / 8 for i in range(10)])
many = Storage("FloatStorage", [i * 0.25 - 30 for i in range(300)])
sd = collections.OrderedDict()
sd["w.f32"] = contiguous(w, 0, [2, 3])
sd["w.t"] = Tensor(w, 0, [3, 2], [1, 3])                      # transposed view of the same storage
sd["h.f16"] = contiguous(Storage("HalfStorage", [1.0, -2.5, 65504.0, 0.099975586]), 0, [4])
sd["b.bf16"] = contiguous(Storage("BFloat16Storage", [unbf16(bf16(v)) for v in (1.0, -3.0, 0.15625, 1e10)]), 0, [2, 2])
sd["off.f32"] = Tensor(flat, 2, [2, 2], [2, 1])               # offset view into a shared storage
sd["off.col"] = Tensor(flat, 1, [3], [3])                     # strided, non-contiguous
sd["i64"] = contiguous(Storage("LongStorage", [-7, 3_000_000_000, 5]), 0, [3])
sd["i32"] = contiguous(Storage("IntStorage", [1, -2]), 0, [2])
sd["bool"] = contiguous(Storage("BoolStorage", [True, False, True]), 0, [3])
sd["scalar"] = Tensor(Storage("FloatStorage", [42.0]), 0, [], [])
sd["empty"] = Tensor(Storage("FloatStorage", []), 0, [0, 4], [4, 1])
for i in range(300):                                          # > 256 memo entries: LONG_BINPUT / LONG_BINGET
    sd[f"many.{i}"] = Tensor(many, i, [1], [1])
sd._metadata = collections.OrderedDict([("", {"version": 1}), ("many", {"version": 1})])

keys, stores = {}, {}
def persistent_id(obj):
    if isinstance(obj, Storage):
        key = keys.setdefault(id(obj), str(len(keys)))
        stores[key] = obj
        return ("storage", getattr(torch, obj.kind), key, "cpu", obj.numel())
    return None

buf = io.BytesIO()
p = pickle.Pickler(buf, protocol=2)
p.persistent_id = persistent_id
p.dump(sd)
with zipfile.ZipFile("cpython_state_dict.bin", "w", zipfile.ZIP_STORED) as z:
    def rec(name, data):
        zi = zipfile.ZipInfo("cpython_state_dict/" + name, date_time=(1980, 1, 1, 0, 0, 0))
        z.writestr(zi, data)
    rec("data.pkl", buf.getvalue())
    rec("byteorder", "little")
    for k in sorted(stores): rec("data/" + k, stores[k].data)
    rec("version", "3\n")
expected = {n: {"dtype": FMT[t.storage.kind][2], "shape": list(t.size),
                "values": [(1 if v else 0) if isinstance(v, bool) else v for v in t.flat()]} for n, t in sd.items()}
with open("cpython_state_dict.json", "w") as f: json.dump(expected, f, sort_keys=True)
print(len(buf.getvalue()), "bytes of pickle;", len(sd), "tensors;", len(stores), "storages")
