#!/usr/bin/env python3
"""Convert a PyTorch DiT or DyDiT checkpoint (.pt / .pth) to a .safetensors file.

Needs only Python 3 and numpy: PyTorch is not imported, and no code stored in the
checkpoint is ever run. torch.save writes a zip archive whose `<name>/data.pkl` is a pickle
of the object graph, with each tensor's bytes in `<name>/data/<key>`. The pickle is read by a
restricted unpickler that knows only the handful of globals needed to rebuild tensors and
plain containers; any other global (os.system, builtins.eval, a model class, ...) is refused
before anything is called.

The state dict taken is the checkpoint's "ema" entry when present (the weights DiT and DyDiT
sample with), else "model", else "state_dict", else the top level when it is itself a state
dict (as in the released DiT-XL-2-256x256.pt). A DDP "module." prefix is removed. The model
config is inferred from tensor shapes and stored as JSON in the metadata entry `config`; any
inferred value can be overridden, and the result is checked against every tensor's shape.

    python3 scripts/convert_checkpoint.py DiT-XL-2-256x256.pt -o dit_xl2_256.safetensors
    python3 scripts/convert_checkpoint.py --inspect results/000/checkpoints/0400000.pt
"""

import argparse
import collections
import hashlib
import io
import json
import math
import os
import pickle
import re
import struct
import sys
import tempfile
import zipfile

import numpy as np


class ConversionError(Exception):
    """A problem with the input or the options, reported to the user without a traceback."""


#################################################################################
#                     Reading a torch.save zip without torch                    #
#################################################################################

# torch.<Name>Storage -> (numpy dtype of the stored bytes, safetensors-style name).
# bfloat16 has no numpy dtype: its raw 16-bit words are widened to float32 on read.
STORAGE_TYPES = {
    "FloatStorage": ("<f4", "F32"),
    "DoubleStorage": ("<f8", "F64"),
    "HalfStorage": ("<f2", "F16"),
    "BFloat16Storage": ("<u2", "BF16"),
    "LongStorage": ("<i8", "I64"),
    "IntStorage": ("<i4", "I32"),
    "ShortStorage": ("<i2", "I16"),
    "CharStorage": ("<i1", "I8"),
    "ByteStorage": ("<u1", "U8"),
    "BoolStorage": ("?", "BOOL"),
}
NUMPY_DTYPES = {kind: np.dtype(np_dtype) for np_dtype, kind in STORAGE_TYPES.values()}
FLOAT_KINDS = {"F32", "F64", "F16", "BF16"}

# Immutable on purpose: a pickle's BUILD opcode cannot alter a tuple's fields afterwards.
StorageType = collections.namedtuple("StorageType", "name")
StorageRef = collections.namedtuple("StorageRef", "key kind numel")
TensorRef = collections.namedtuple("TensorRef", "storage offset shape stride")


def _numel(shape):
    return math.prod(shape)


class TrainingArgs:
    """Stand-in for argparse.Namespace: the training args stored by DiT's train.py.

    The unpickler fills its __dict__ with plain values; nothing of argparse is imported or run.
    """

    def __repr__(self):
        items = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"Namespace({items})"


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    """Stand-in for torch._utils._rebuild_tensor_v2: records where the tensor's data is."""
    if not isinstance(storage, StorageRef):
        raise pickle.UnpicklingError(f"a tensor is rebuilt from {type(storage).__name__}, not from a storage")
    if not (_is_int(storage_offset) and isinstance(size, tuple) and isinstance(stride, tuple)
            and len(size) == len(stride) and all(_is_int(v) for v in size + stride)):
        raise pickle.UnpicklingError(f"malformed tensor record (offset {storage_offset!r}, size {size!r}, "
                              f"stride {stride!r})")
    if metadata:
        raise pickle.UnpicklingError(f"tensor with extra metadata {metadata!r} (e.g. a conjugate or negative "
                              "bit) is not supported; save a plain resolved tensor instead")
    return TensorRef(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad, backward_hooks):
    """Stand-in for torch._utils._rebuild_parameter: an nn.Parameter is just its tensor here."""
    if not isinstance(data, TensorRef):
        raise pickle.UnpicklingError(f"a parameter wraps {type(data).__name__}, not a tensor")
    return data


ALLOWED_GLOBALS = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("argparse", "Namespace"): TrainingArgs,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only tensor-rebuilding globals and plain containers."""

    def __init__(self, file, source):
        super().__init__(file)
        self.source = source

    def find_class(self, module, name):
        if module == "torch" and name in STORAGE_TYPES:
            return StorageType(name)
        if (module, name) in ALLOWED_GLOBALS:
            return ALLOWED_GLOBALS[(module, name)]
        raise ConversionError(
            f"{self.source}: refusing to load: the pickle references the global '{module}.{name}', "
            "which is not needed to rebuild tensors (nothing was executed). Only tensors, "
            "state dicts, plain containers and argparse.Namespace are accepted. If you trust "
            "this file, load it with torch.load(path, weights_only=True) and re-save just the "
            "state dict: torch.save(ckpt['ema'], 'clean.pt').")

    def persistent_load(self, pid):
        # torch.save's persistent id: ('storage', <torch.XStorage>, key, location, numel).
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], StorageType) and isinstance(pid[2], str) and _is_int(pid[4])
                and pid[4] >= 0):
            raise ConversionError(f"{self.source}: unexpected persistent id {pid!r} in data.pkl")
        return StorageRef(pid[2], STORAGE_TYPES[pid[1].name][1], pid[4])


class Checkpoint:
    """An opened torch.save zip checkpoint: the unpickled object and its storages, read lazily."""

    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)
        self.zip = _open_zip(path)
        pkl = [n for n in self.zip.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise ConversionError(f"{path}: a zip archive but not a torch.save checkpoint "
                                  f"(expected one '<name>/data.pkl', found {len(pkl)})")
        self.prefix = pkl[0][: -len("data.pkl")]
        byteorder = self._read_record(self.prefix + "byteorder", missing_ok=True)
        if byteorder not in (None, b"little"):
            raise ConversionError(f"{path}: tensors are stored {byteorder.decode(errors='replace')}-endian; "
                                  "re-save the checkpoint on a little-endian machine")
        data = self._read_record(pkl[0])
        try:
            self.obj = RestrictedUnpickler(io.BytesIO(data), path).load()
        except ConversionError:
            raise
        except Exception as e:  # any malformed pickle: report, never a traceback
            raise ConversionError(f"{path}: {pkl[0]} is not a valid checkpoint pickle "
                                  f"({type(e).__name__}: {e})") from None
        self._storages = {}

    def _read_record(self, name, missing_ok=False, expected_size=None):
        try:
            info = self.zip.getinfo(name)
        except KeyError:
            if missing_ok:
                return None
            raise ConversionError(f"{self.path}: record '{name}' is missing from the archive") from None
        # Checked before reading so a damaged size field cannot make us allocate gigabytes.
        if expected_size is not None and info.file_size != expected_size:
            raise ConversionError(f"{self.path}: record '{name}' holds {info.file_size} bytes, "
                                  f"its storage needs {expected_size}: the file is damaged")
        try:
            return self.zip.read(info)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
            raise ConversionError(f"{self.path}: cannot read record '{name}' ({e}): "
                                  "the file is truncated or damaged") from None

    def storage_array(self, ref):
        if ref.key not in self._storages:
            np_dtype = NUMPY_DTYPES[ref.kind]
            raw = self._read_record(f"{self.prefix}data/{ref.key}", expected_size=ref.numel * np_dtype.itemsize)
            self._storages[ref.key] = np.frombuffer(raw, dtype=np_dtype)
        return self._storages[ref.key]

    def tensor(self, t, name):
        """The tensor's values as a C-contiguous array (bfloat16 widened to float32)."""
        ref = t.storage
        if t.offset < 0 or any(s < 0 for s in t.shape) or any(s < 0 for s in t.stride):
            raise ConversionError(f"{self.path}: tensor '{name}' has a negative offset, size or stride")
        if _numel(t.shape) == 0:
            arr = np.zeros(t.shape, dtype=NUMPY_DTYPES[ref.kind])
        else:
            # as_strided reads whatever memory the strides point at: bound them by the storage.
            last = t.offset + sum((n - 1) * s for n, s in zip(t.shape, t.stride))
            if last >= ref.numel:
                raise ConversionError(f"{self.path}: tensor '{name}' (offset {t.offset}, shape {list(t.shape)}, "
                                      f"stride {list(t.stride)}) reaches element {last} of a storage of "
                                      f"{ref.numel}: the file is damaged")
            base = self.storage_array(ref)
            arr = np.lib.stride_tricks.as_strided(
                base[t.offset:], shape=t.shape, strides=[s * base.itemsize for s in t.stride], writeable=False)
            arr = np.ascontiguousarray(arr)
        if ref.kind == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        return arr


class SafetensorsCheckpoint(Checkpoint):
    """A state dict saved as safetensors (e.g. `safetensors.torch.save_file(model.state_dict(), ...)`)
    without our `config` metadata: its tensors, read lazily, as the top-level state dict."""

    MAX_HEADER = 100 << 20

    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)
        self.prefix = ""
        try:
            self.file = open(path, "rb")
            size = os.fstat(self.file.fileno()).st_size
        except OSError as e:
            raise ConversionError(f"cannot open {path}: {e.strerror}") from None
        head = self.file.read(8)
        n = struct.unpack("<Q", head)[0] if len(head) == 8 else 0
        if not 2 <= n <= min(self.MAX_HEADER, size - 8):
            raise ConversionError(f"{path}: a safetensors header of {n} bytes does not fit a file of {size} bytes: "
                                  "the file is truncated or damaged")
        try:
            header = json.loads(self.file.read(n))
        except (ValueError, UnicodeDecodeError) as e:
            raise ConversionError(f"{path}: the safetensors header is not valid JSON ({e})") from None
        if not isinstance(header, dict):
            raise ConversionError(f"{path}: the safetensors header is not a JSON object")
        metadata = header.pop("__metadata__", None) or {}
        if isinstance(metadata, dict) and "config" in metadata:
            raise ConversionError(f"{path}: already a model file with a 'config' in its metadata: dydit reads it "
                                  "as it is (dydit inspect " + path + ")")
        self.data_start, data_size = 8 + n, size - 8 - n
        self.obj, self._storages = {}, {}
        self._ranges = {}
        kinds = {kind for kind in NUMPY_DTYPES}
        for name, h in header.items():
            ok = (isinstance(h, dict) and h.get("dtype") in kinds and isinstance(h.get("shape"), list)
                  and all(_is_int(d) and d >= 0 for d in h["shape"]) and isinstance(h.get("data_offsets"), list)
                  and len(h["data_offsets"]) == 2 and all(_is_int(o) for o in h["data_offsets"]))
            if not ok:
                raise ConversionError(f"{path}: tensor '{name}' has a malformed header entry {h!r}")
            begin, end = h["data_offsets"]
            numel = _numel(h["shape"])
            if not 0 <= begin <= end <= data_size or end - begin != numel * NUMPY_DTYPES[h["dtype"]].itemsize:
                raise ConversionError(f"{path}: tensor '{name}' ({h['dtype']} {h['shape']}) has data offsets "
                                      f"[{begin}, {end}] that do not fit its size or the file: the file is damaged")
            shape = tuple(h["shape"])
            stride = tuple(math.prod(shape[i + 1:]) for i in range(len(shape)))
            self.obj[name] = TensorRef(StorageRef(name, h["dtype"], numel), 0, shape, stride)
            self._ranges[name] = (begin, end)

    def storage_array(self, ref):
        if ref.key not in self._storages:
            begin, end = self._ranges[ref.key]
            self.file.seek(self.data_start + begin)
            raw = self.file.read(end - begin)
            if len(raw) != end - begin:
                raise ConversionError(f"{self.path}: tensor '{ref.key}' is cut short: the file is truncated")
            self._storages[ref.key] = np.frombuffer(raw, dtype=NUMPY_DTYPES[ref.kind])
        return self._storages[ref.key]


def _file_head(path):
    """The first 16 bytes, which tell the formats apart."""
    try:
        with open(path, "rb") as f:
            return f.read(16)
    except OSError as e:
        raise ConversionError(f"cannot open {path}: {e.strerror}") from None


def open_checkpoint(path):
    """A torch.save zip, or a safetensors state dict without config metadata."""
    head = _file_head(path)
    if len(head) >= 9 and head[8:9] == b"{":
        return SafetensorsCheckpoint(path)
    return Checkpoint(path)


def _open_zip(path):
    head = _file_head(path)
    if head.startswith(b"PK\x03\x04"):
        try:
            return zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise ConversionError(f"{path}: a zip archive that cannot be read ({e}): the file is "
                                  "truncated or damaged; copy or download it again") from None
    if head.startswith(b"\x80"):
        raise ConversionError(f"{path}: a legacy (non-zip) torch.save checkpoint. Re-save it with a "
                              "recent PyTorch, which writes the zip format: "
                              "torch.save(torch.load(path, weights_only=True), 'resaved.pt')")
    raise ConversionError(f"{path}: not a PyTorch checkpoint (neither a torch.save zip nor a legacy pickle)")


#################################################################################
#                        Picking the state dict                                 #
#################################################################################

ENTRY_ORDER = ("ema", "model", "state_dict")


def is_state_dict(obj):
    return (isinstance(obj, dict) and len(obj) > 0
            and all(isinstance(k, str) and isinstance(v, TensorRef) for k, v in obj.items()))


def pick_entry(obj, source, requested=None):
    """Return (entry label, state dict) following ENTRY_ORDER, or the requested entry."""
    if not isinstance(obj, dict):
        raise ConversionError(f"{source}: the checkpoint holds a {type(obj).__name__}, not a dict")
    if requested is not None:
        if requested not in obj:
            raise ConversionError(f"{source}: no entry '{requested}'; top-level keys: {_keys(obj)}")
        label, value = requested, obj[requested]
    else:
        present = [k for k in ENTRY_ORDER if k in obj]
        if present:
            label, value = present[0], obj[present[0]]
        elif is_state_dict(obj):
            return "(top level)", obj
        else:
            raise ConversionError(f"{source}: no 'ema', 'model' or 'state_dict' entry and the top level is "
                                  f"not a state dict; top-level keys: {_keys(obj)}. Choose one with --entry")
    if not is_state_dict(value):
        raise ConversionError(f"{source}: entry '{label}' is not a state dict (name -> tensor); "
                              f"choose another with --entry (top-level keys: {_keys(obj)})")
    return label, value


def _keys(d, limit=12):
    keys = [repr(k) for k in list(d)[:limit]]
    return ", ".join(keys) + (f", ... ({len(d)} in all)" if len(d) > limit else "")


def strip_ddp_prefix(sd, source):
    """Remove DistributedDataParallel's 'module.' prefix; returns (state dict, keys stripped)."""
    out, stripped = {}, 0
    for k, v in sd.items():
        if k.startswith("module."):
            k, stripped = k[len("module."):], stripped + 1
        if k in out:
            raise ConversionError(f"{source}: '{k}' appears both with and without the 'module.' prefix")
        out[k] = v
    return out, stripped


#################################################################################
#                        Inferring and checking the config                      #
#################################################################################

# DiT's models (models.py): name -> (depth, hidden_size, num_heads).
DIT_MODELS = {"S": (12, 384, 6), "B": (12, 768, 12), "L": (24, 1024, 16), "XL": (28, 1152, 16)}
# (depth, hidden_size) -> num_heads of DiT-S, -B, -L and -XL.
DIT_HEADS = {(d, h): nh for d, h, nh in DIT_MODELS.values()}


def heads_from_training_args(training_args, depth, D, p, notes):
    """(num_heads, model name) from DiT's train.py args (`args.model`, e.g. "DiT-S/2") when
    they name a DiT model these shapes are; None otherwise (with a note when they name another)."""
    model = getattr(training_args, "model", None)
    if not isinstance(model, str):
        return None
    m = re.fullmatch(r"DiT-(S|B|L|XL)/(\d+)", model)
    if not m:
        notes.append(f"the training args name the model {model!r}, not one of DiT's: not used for the head count")
        return None
    d, h, nh = DIT_MODELS[m.group(1)]
    if (d, h, int(m.group(2))) != (depth, D, p):
        notes.append(f"the training args name {model} (depth {d}, width {h}, patch {m.group(2)}) but these weights "
                     f"have depth {depth}, width {D}, patch {p}: not used for the head count")
        return None
    return nh, model
FREQ_DIM = 256  # TimestepEmbedder's frequency_embedding_size


def infer_config(shapes, overrides, source, training_args=None, provenance=None):
    """Config from tensor shapes; returns (config, kind 'dit'/'dydit', router format or None, notes).

    The head count is the one value a DiT state dict does not determine (qkv is [3D, D] for
    every count): it comes from --num-heads, the training args' model name, or DiT's table, in
    that order, and where it came from is put in `provenance["num_heads_from"]`.
    """
    provenance = {} if provenance is None else provenance
    def shape(key, ndim):
        if key not in shapes:
            raise ConversionError(f"{source}: not a DiT/DyDiT state dict: '{key}' is missing "
                                  f"(keys: {_keys(shapes, 8)})")
        s = shapes[key]
        if len(s) != ndim:
            raise ConversionError(f"{source}: '{key}' has shape {list(s)}, expected {ndim} dimensions")
        return s

    notes = []
    D, C, p, p2 = shape("x_embedder.proj.weight", 4)
    if p != p2:
        raise ConversionError(f"{source}: x_embedder.proj.weight {[D, C, p, p2]} has a non-square patch")
    _, N, _ = shape("pos_embed", 3)
    rows_y, _ = shape("y_embedder.embedding_table.weight", 2)
    rows_out, _ = shape("final_layer.linear.weight", 2)
    hidden, _ = shape("blocks.0.mlp.fc1.weight", 2)
    indices = {int(m.group(1)) for k in shapes for m in [re.match(r"blocks\.(\d+)\.", k)] if m}
    depth = len(indices)
    if indices != set(range(depth)):
        raise ConversionError(f"{source}: block indices {sorted(indices)} are not 0..{depth - 1}")
    kind = "dydit" if any(".attn_rate.router." in k for k in shapes) else "dit"

    grid = math.isqrt(N)
    if grid * grid != N and overrides.get("input_size") is None:
        raise ConversionError(f"{source}: pos_embed has {N} tokens, not a square grid; pass --input-size")
    if rows_out == p * p * 2 * C:
        learn_sigma = True
    elif rows_out == p * p * C:
        learn_sigma = False
    else:
        learn_sigma = None  # left to the override; the shape check below reports the mismatch
    config = {
        "input_size": grid * p,
        "patch_size": p,
        "in_channels": C,
        "hidden_size": D,
        "depth": depth,
        "num_heads": None,
        "num_classes": rows_y - 1,  # the last row is the "null" class of classifier-free guidance
        "learn_sigma": learn_sigma,
        "mlp_ratio": hidden // D if hidden % D == 0 else hidden / D,
    }
    for k, v in overrides.items():
        if v is not None:
            config[k] = v
    if isinstance(config["mlp_ratio"], float) and config["mlp_ratio"].is_integer():
        config["mlp_ratio"] = int(config["mlp_ratio"])  # "4", as DiT's default is usually written
    if config["learn_sigma"] is None:
        raise ConversionError(f"{source}: final_layer.linear.weight has {rows_out} rows, neither "
                              f"p*p*2C = {p * p * 2 * C} (learn_sigma) nor p*p*C = {p * p * C}")

    router_format = None
    if kind == "dydit":
        r, _ = shape("blocks.0.attn_rate.router.weight", 2)
        # Current DyDiT: NH-1 router outputs plus a forced unit; the early release: NH outputs.
        formats = {"current": r + 1, "early": r}
        if config["num_heads"] is not None:
            nh = config["num_heads"]
            provenance["num_heads_from"] = "--num-heads"
            router_format = next((f for f, h in formats.items() if h == nh), None)
            if router_format is None:
                raise ConversionError(f"{source}: --num-heads {nh} does not fit routers with {r} outputs: "
                                      f"expected {r + 1} (current format, NH-1 outputs) or {r} (early release, "
                                      "NH outputs)")
        else:
            fits = [f for f, h in formats.items() if D % h == 0 and hidden % h == 0]
            if not fits:
                raise ConversionError(f"{source}: routers have {r} outputs but neither {r + 1} nor {r} heads "
                                      f"divide hidden_size {D}; pass --num-heads")
            router_format = fits[0]
            if len(fits) == 2:
                notes.append(f"routers have {r} outputs and both {r + 1} and {r} heads divide hidden_size {D}: "
                             f"assumed the current DyDiT format (NH-1 outputs), num_heads = {r + 1}; pass "
                             f"--num-heads {r} if this checkpoint comes from the early release (NH outputs)")
            config["num_heads"] = formats[router_format]
            provenance["num_heads_from"] = f"router outputs ({router_format} DyDiT format)"
        if router_format == "early":
            notes.append("early DyDiT release format: routers have num_heads outputs and no forced unit")
    else:
        from_args = heads_from_training_args(training_args, depth, D, p, notes)
        table = DIT_HEADS.get((depth, D))
        given = config["num_heads"]
        if given is not None:
            if from_args is not None and given != from_args[0]:
                raise ConversionError(f"{source}: --num-heads {given} contradicts the checkpoint's training args "
                                      f"(model {from_args[1]}: {from_args[0]} heads); a wrong head count changes "
                                      "every attention output. Leave --num-heads out")
            if from_args is None and table is not None and given != table:
                notes.append(f"--num-heads {given} differs from the {table} heads of DiT's model with depth {depth} and "
                             f"width {D}; the state dict does not record the head count (every divisor of the width "
                             f"fits its shapes), so {given} must be what the model was trained with: a wrong count "
                             "changes every attention output")
            provenance["num_heads_from"] = "--num-heads"
        elif from_args is not None:
            config["num_heads"] = from_args[0]
            provenance["num_heads_from"] = f"training args (model {from_args[1]})"
        elif table is not None:
            config["num_heads"] = table
            provenance["num_heads_from"] = f"DiT's model table (depth {depth}, width {D})"
            notes.append(f"num_heads {table}: DiT's head count for depth {depth} and width {D}; the state dict does "
                         "not record it, so pass --num-heads if this model was trained with another")
        else:
            raise ConversionError(f"{source}: cannot infer num_heads: a DiT state dict does not record its head "
                                  f"count (every divisor of hidden size {D} fits its shapes), no training args name "
                                  f"a DiT model, and depth {depth} with width {D} is none of DiT-S/B/L/XL: pass "
                                  "--num-heads, the value the model was trained with")
    if D % config["num_heads"] != 0:
        raise ConversionError(f"{source}: num_heads {config['num_heads']} does not divide hidden_size {D}")

    check_shapes(shapes, config, kind, router_format, source)
    return config, kind, router_format, notes


def expected_shapes(config, kind, router_format):
    D, C, p = config["hidden_size"], config["in_channels"], config["patch_size"]
    H = int(round(D * config["mlp_ratio"]))
    out_c = 2 * C if config["learn_sigma"] else C
    N = (config["input_size"] // p) ** 2
    nh = config["num_heads"]
    exp = {
        "x_embedder.proj.weight": (D, C, p, p), "x_embedder.proj.bias": (D,),
        "pos_embed": (1, N, D),
        "t_embedder.mlp.0.weight": (D, FREQ_DIM), "t_embedder.mlp.0.bias": (D,),
        "t_embedder.mlp.2.weight": (D, D), "t_embedder.mlp.2.bias": (D,),
        "y_embedder.embedding_table.weight": (config["num_classes"] + 1, D),
        "final_layer.adaLN_modulation.1.weight": (2 * D, D), "final_layer.adaLN_modulation.1.bias": (2 * D,),
        "final_layer.linear.weight": (p * p * out_c, D), "final_layer.linear.bias": (p * p * out_c,),
    }
    for i in range(config["depth"]):
        b = f"blocks.{i}."
        exp.update({
            b + "attn.qkv.weight": (3 * D, D), b + "attn.qkv.bias": (3 * D,),
            b + "attn.proj.weight": (D, D), b + "attn.proj.bias": (D,),
            b + "mlp.fc1.weight": (H, D), b + "mlp.fc1.bias": (H,),
            b + "mlp.fc2.weight": (D, H), b + "mlp.fc2.bias": (D,),
            b + "adaLN_modulation.1.weight": (6 * D, D), b + "adaLN_modulation.1.bias": (6 * D,),
        })
        if kind == "dydit":
            r = nh - 1 if router_format == "current" else nh
            for router in ("attn_rate", "mlp_rate"):
                exp[f"{b}{router}.router.weight"] = (r, D)
                exp[f"{b}{router}.router.bias"] = (r,)
            exp.update({
                b + "token_selection.mlp_head.0.weight": (D // 16, D), b + "token_selection.mlp_head.0.bias": (D // 16,),
                b + "token_selection.mlp_head.2.weight": (1, D // 16), b + "token_selection.mlp_head.2.bias": (1,),
            })
    return exp


def check_shapes(shapes, config, kind, router_format, source):
    exp = expected_shapes(config, kind, router_format)
    problems = [f"missing '{k}' {list(s)}" for k, s in exp.items() if k not in shapes]
    problems += [f"unexpected '{k}' {list(s)}" for k, s in shapes.items() if k not in exp]
    problems += [f"'{k}' is {list(shapes[k])}, expected {list(s)}"
                 for k, s in exp.items() if k in shapes and tuple(shapes[k]) != s]
    if problems:
        more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise ConversionError(f"{source}: the tensors do not match the config {json.dumps(config)}:\n  "
                              + "\n  ".join(problems[:10]) + more)


#################################################################################
#                               Writing safetensors                              #
#################################################################################

OUT_DTYPES = {"f32": (np.float32, "F32"), "f16": (np.float16, "F16")}


def write_safetensors_atomic(path, specs, metadata, produce):
    """Write a safetensors file so that `path` ends up complete or untouched.

    specs: [(name, shape, numpy dtype, safetensors dtype)] in file order; produce(name) returns
    that tensor's array. Tensors are produced one at a time while writing, so only one
    converted tensor is held in memory beside the checkpoint's raw storages.
    """
    header = {"__metadata__": metadata}
    offset = 0
    for name, shape, np_dtype, st_dtype in specs:
        nbytes = _numel(shape) * np.dtype(np_dtype).itemsize
        header[name] = {"dtype": st_dtype, "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * (-len(hb) % 8)  # pad so the data starts 8-byte aligned, as safetensors does

    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    done = False
    try:
        with os.fdopen(fd, "wb") as f:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(f.fileno(), 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
            f.write(struct.pack("<Q", len(hb)))
            f.write(hb)
            for name, shape, np_dtype, _ in specs:
                arr = produce(name)
                assert arr.shape == tuple(shape) and arr.dtype == np_dtype, name
                f.write(arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        done = True
        dfd = os.open(directory, os.O_RDONLY)  # make the rename itself durable
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    finally:
        if not done and os.path.exists(tmp):
            os.unlink(tmp)


#################################################################################
#                                    Commands                                   #
#################################################################################

def load_state_dict(ckpt, entry):
    label, sd = pick_entry(ckpt.obj, ckpt.path, entry)
    sd, stripped = strip_ddp_prefix(sd, ckpt.path)
    return label, sd, stripped


def convert(args):
    if args.output is None:
        args.output = os.path.splitext(args.checkpoint)[0] + ".safetensors"
    if os.path.abspath(args.output) == os.path.abspath(args.checkpoint):
        raise ConversionError("the output path is the input checkpoint; choose another with -o")
    if os.path.exists(args.output) and not args.force:
        raise ConversionError(f"{args.output} exists; pass --force to replace it")

    ckpt = open_checkpoint(args.checkpoint)
    label, sd, stripped = load_state_dict(ckpt, args.entry)
    shapes = {k: v.shape for k, v in sd.items()}
    provenance = {}
    config, kind, router_format, notes = infer_config(shapes, overrides_from(args), ckpt.path,
                                                      training_args(ckpt), provenance)

    np_dtype, st_dtype = OUT_DTYPES[args.dtype]
    source_kinds = collections.Counter(t.storage.kind for t in sd.values())
    for name, t in sd.items():
        if t.storage.kind not in FLOAT_KINDS:
            raise ConversionError(f"{ckpt.path}: '{name}' is {t.storage.kind}, a DiT weight must be floating point")

    def produce(name):
        arr = ckpt.tensor(sd[name], name)
        out = arr.astype(np_dtype, copy=False)
        if not np.array_equal(np.isfinite(arr), np.isfinite(out)):
            hint = "; use --dtype f32" if st_dtype != "F32" else ""
            raise ConversionError(f"{ckpt.path}: '{name}' has values beyond the {st_dtype} range{hint}")
        return out

    specs = [(name, sd[name].shape, np_dtype, st_dtype) for name in sorted(sd)]
    metadata = {
        "config": json.dumps(config),
        "source": f"{ckpt.name} (entry '{label}')",
        "source_sha256": file_sha256(ckpt.path),
        "num_heads_from": provenance["num_heads_from"],
        "converter": "DyDiT.swift scripts/convert_checkpoint.py",
    }
    if router_format is not None:
        metadata["router_format"] = router_format
    try:
        write_safetensors_atomic(args.output, specs, metadata, produce)
    except OSError as e:
        raise ConversionError(f"cannot write {args.output}: {e.strerror or e}") from None

    params = sum(_numel(t.shape) for t in sd.values())
    others = [k for k in ckpt.obj if k != label] if label != "(top level)" else []
    print(f"converted {ckpt.path} -> {args.output}")
    print(f"  entry:      '{label}'" + (f" (also in the file: {', '.join(map(str, others))})" if others else ""))
    if stripped:
        print(f"  prefix:     removed 'module.' from {stripped} keys")
    print(f"  model:      {'DyDiT' if kind == 'dydit' else 'DiT'}"
          + (f", router format '{router_format}'" if router_format else ""))
    print(f"  tensors:    {len(specs)}, {params:,} parameters, written as {st_dtype} "
          f"(source {', '.join(f'{k} x{n}' for k, n in sorted(source_kinds.items()))})")
    print(f"  config:     {json.dumps(config)}")
    print(f"  num_heads:  {config['num_heads']}, from {provenance['num_heads_from']}")
    print(f"  source:     sha256 {metadata['source_sha256']}")
    for note in notes:
        print(f"  note:       {note}")
    return 0


def training_args(ckpt):
    """The training args DiT's train.py stores beside the weights (`args`), if any."""
    args = ckpt.obj.get("args") if isinstance(ckpt.obj, dict) else None
    return args if isinstance(args, TrainingArgs) else None


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe(obj):
    """One line about a top-level entry, without reading any tensor data."""
    if is_state_dict(obj):
        n = sum(_numel(t.shape) for t in obj.values())
        kinds = sorted({t.storage.kind for t in obj.values()})
        return f"state dict: {len(obj)} tensors, {n:,} parameters ({', '.join(kinds)})"
    if isinstance(obj, TensorRef):
        return f"tensor {obj.storage.kind} {list(obj.shape)}"
    if isinstance(obj, TrainingArgs):
        text = repr(obj)
        return text if len(text) <= 200 else text[:197] + "..."
    if isinstance(obj, (dict, list, tuple)):
        tensors = []

        def walk(o):
            if isinstance(o, TensorRef):
                tensors.append(o)
            elif isinstance(o, dict):
                for v in o.values():
                    walk(v)
            elif isinstance(o, (list, tuple)):
                for v in o:
                    walk(v)
        walk(obj)
        keys = f" (keys {_keys(obj, 6)})" if isinstance(obj, dict) else ""
        return (f"{type(obj).__name__} of {len(obj)}{keys}: {len(tensors)} tensors, "
                f"{sum(_numel(t.shape) for t in tensors):,} elements")
    text = repr(obj)
    return f"{type(obj).__name__}: {text if len(text) <= 80 else text[:77] + '...'}"


def inspect(args):
    ckpt = open_checkpoint(args.checkpoint)
    if isinstance(ckpt, SafetensorsCheckpoint):
        print(f"{ckpt.path}: safetensors state dict (no config metadata)")
    else:
        print(f"{ckpt.path}: torch.save zip, archive folder '{ckpt.prefix.rstrip('/')}'")
    if is_state_dict(ckpt.obj):
        print("top level: " + describe(ckpt.obj))
    elif isinstance(ckpt.obj, dict):
        print("top-level entries:")
        for k, v in ckpt.obj.items():
            print(f"  {k!s:16s} {describe(v)}")
    else:
        print("top level: " + describe(ckpt.obj))
    label, sd, stripped = load_state_dict(ckpt, args.entry)
    print(f"would convert: '{label}'" + (f" (removing 'module.' from {stripped} keys)" if stripped else ""))
    for name in sorted(sd):
        t = sd[name]
        print(f"  {name:48s} {t.storage.kind:5s} {list(t.shape)}")
    try:
        provenance = {}
        config, kind, router_format, notes = infer_config(
            {k: v.shape for k, v in sd.items()}, overrides_from(args), ckpt.path, training_args(ckpt), provenance)
    except ConversionError as e:
        # Still exit 0: the listing is what --inspect was asked for.
        print(f"config: cannot be inferred: {e}")
        return 0
    print(f"model: {'DyDiT' if kind == 'dydit' else 'DiT'}" + (f", router format '{router_format}'" if router_format else ""))
    print(f"config: {json.dumps(config)}")
    print(f"num_heads from: {provenance['num_heads_from']}")
    for note in notes:
        print(f"note: {note}")
    return 0


def overrides_from(args):
    return {
        "input_size": args.input_size,
        "num_heads": args.num_heads,
        "num_classes": args.num_classes,
        "learn_sigma": args.learn_sigma,
        "mlp_ratio": args.mlp_ratio,
        "patch_size": args.patch_size,
        "in_channels": args.in_channels,
        "hidden_size": args.hidden_size,
        "depth": args.depth,
    }


def build_parser():
    parser = argparse.ArgumentParser(
        description="Convert a PyTorch DiT/DyDiT checkpoint (torch.save zip) to safetensors, with numpy only "
                    "and without running any code stored in the checkpoint.",
        epilog="The state dict taken is 'ema' if present, else 'model', else 'state_dict', else the top level; "
               "a DDP 'module.' prefix is removed. The config is inferred from tensor shapes (metadata 'config'); "
               "every override is checked against the shapes.")
    parser.add_argument("checkpoint", help="input .pt/.pth file written by torch.save (zip format), or a "
                                           ".safetensors state dict without config metadata")
    parser.add_argument("-o", "--output", help="output .safetensors path (default: the input with .safetensors)")
    parser.add_argument("--inspect", action="store_true",
                        help="list the top-level entries, the tensors and the inferred config; write nothing")
    parser.add_argument("--entry", help="take this top-level entry instead of ema/model/state_dict")
    parser.add_argument("--dtype", choices=sorted(OUT_DTYPES), default="f32",
                        help="dtype of the written tensors (default f32)")
    parser.add_argument("--force", action="store_true", help="replace the output file if it exists")
    g = parser.add_argument_group("config overrides (default: inferred from the tensor shapes)")
    g.add_argument("--num-heads", type=int, help="attention heads: a DiT state dict does not record them; default "
                                                 "from the training args' model name, else DiT's S/B/L/XL table")
    g.add_argument("--input-size", type=int, help="latent height = width")
    g.add_argument("--num-classes", type=int, help="classes, without the null class")
    g.add_argument("--learn-sigma", dest="learn_sigma", action="store_true", default=None,
                   help="the model also predicts the variance (2C output channels)")
    g.add_argument("--no-learn-sigma", dest="learn_sigma", action="store_false", help="C output channels")
    g.add_argument("--mlp-ratio", type=float, help="MLP hidden size / hidden size")
    g.add_argument("--patch-size", type=int, help="patch size p")
    g.add_argument("--in-channels", type=int, help="latent channels C")
    g.add_argument("--hidden-size", type=int, help="transformer width D")
    g.add_argument("--depth", type=int, help="number of blocks")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return inspect(args) if args.inspect else convert(args)
    except ConversionError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
