"""Tests for scripts/convert_checkpoint.py. Needs Python 3 and numpy only (no PyTorch).

    python3 -m unittest discover -s scripts/tests

The fixtures in fixtures/ were written by torch.save (see make_fixture.py) from the committed
reference weights (Tests/Fixtures/reference); the converted files must equal those weights bit
for bit. So these tests always read that committed copy: DYDIT_REFERENCE_DIR, which points
the parity tests at other models, names files these fixtures were not made from. Hostile and damaged inputs
are crafted here byte by byte, with pickle opcodes inside a zip laid out like torch.save's.
"""

import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.dirname(HERE)
REPO_ROOT = os.path.dirname(SCRIPTS)
CONVERTER = os.path.join(SCRIPTS, "convert_checkpoint.py")
FIXTURES = os.path.join(HERE, "fixtures")
REFERENCE_DIR = os.path.join(REPO_ROOT, "Tests", "Fixtures", "reference")  # what fixtures/ was made from

sys.path.insert(0, SCRIPTS)
import convert_checkpoint as cc  # noqa: E402

ST_DTYPES = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I64": "<i8", "I32": "<i4", "BOOL": "?"}


def read_safetensors(path):
    """(name -> array, metadata) from a safetensors file."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, h in header.items():
        start, end = h["data_offsets"]
        tensors[name] = np.frombuffer(data[start:end], dtype=ST_DTYPES[h["dtype"]]).reshape(h["shape"])
    return tensors, metadata


def reference(name):
    path = os.path.join(REFERENCE_DIR, f"{name}.weights.safetensors")
    if not os.path.exists(path):
        raise AssertionError(f"reference file {path} not found: fixtures/ was made from the committed reference copy")
    return read_safetensors(path)


def reference_config(metadata):
    config = json.loads(metadata["config"])
    config.pop("name", None)
    config.setdefault("mlp_ratio", 4)
    return config


#################################################################################
#            Hand-written pickle opcodes for torch.save-like archives           #
#################################################################################

def p_str(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def p_int(i):
    return b"J" + struct.pack("<i", i)


def p_ints(values):
    return b"(" + b"".join(p_int(v) for v in values) + b"t"


def p_tensor(key, numel, offset, shape, stride, storage="FloatStorage"):
    """torch._utils._rebuild_tensor_v2(persistent storage, offset, shape, stride, False, OrderedDict())."""
    pid = b"(" + p_str("storage") + f"ctorch\n{storage}\n".encode() + p_str(key) + p_str("cpu") + p_int(numel) + b"t"
    return (b"ctorch._utils\n_rebuild_tensor_v2\n(" + pid + b"Q" + p_int(offset) + p_ints(shape) + p_ints(stride)
            + b"\x89ccollections\nOrderedDict\n)Rt" + b"R")


def p_dict(items):
    return b"}(" + b"".join(p_str(k) + v for k, v in items) + b"u"


def write_torch_zip(path, pickle_body, records, protocol=b"\x80\x02"):
    """A zip laid out like torch.save's: archive/data.pkl, archive/data/<key>, version, byteorder."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", protocol + pickle_body + b".")
        z.writestr("archive/byteorder", "little")
        for key, data in records.items():
            z.writestr(f"archive/data/{key}", data)
        z.writestr("archive/version", "3\n")


def state_dict_pickle(tensors):
    """Pickle body and records for {name: float32 array}, one storage per tensor."""
    items, records = [], {}
    for i, (name, arr) in enumerate(tensors.items()):
        arr = np.ascontiguousarray(arr, dtype="<f4")
        stride = [int(s // 4) for s in arr.strides]
        items.append((name, p_tensor(str(i), arr.size, 0, arr.shape, stride)))
        records[str(i)] = arr.tobytes()
    return p_dict(items), records


#################################################################################

class ConverterTestCase(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.tmp = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def run_converter(self, *args):
        return subprocess.run([sys.executable, CONVERTER, *args], capture_output=True, text=True, timeout=120)

    def convert(self, checkpoint, *args):
        out = os.path.join(self.tmp, "out.safetensors")
        r = self.run_converter(checkpoint, "-o", out, *args)
        self.assertEqual(r.returncode, 0, f"converter failed:\n{r.stdout}\n{r.stderr}")
        return read_safetensors(out) + (r.stdout,)

    def assert_fails(self, checkpoint, *args, message):
        out = os.path.join(self.tmp, "out.safetensors")
        r = self.run_converter(checkpoint, "-o", out, *args)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn(message, r.stderr)
        self.assertNotIn("Traceback", r.stderr)
        self.assertEqual([f for f in os.listdir(self.tmp) if f.endswith("safetensors") or f.endswith(".tmp")], [],
                         "a failed conversion left a file behind")
        return r.stderr

    def assert_bitwise_equal(self, got, want):
        self.assertEqual(sorted(got), sorted(want))
        for name in want:
            self.assertEqual(got[name].dtype, want[name].dtype, name)
            self.assertEqual(got[name].shape, want[name].shape, name)
            self.assertEqual(got[name].tobytes(), want[name].tobytes(), name)


class TestFixtures(ConverterTestCase):
    """Real torch.save checkpoints: values, config, entry choice, prefixes, views."""

    def test_dit_training_checkpoint_takes_ema(self):
        ref, ref_meta = reference("dit_tiny_p2_ls")
        got, meta, stdout = self.convert(os.path.join(FIXTURES, "dit_tiny_p2_ls.pt"), "--num-heads", "4")
        self.assert_bitwise_equal(got, ref)
        self.assertEqual(json.loads(meta["config"]), reference_config(ref_meta))
        self.assertEqual(meta["source"], "dit_tiny_p2_ls.pt (entry 'ema')")
        self.assertIn("entry:      'ema'", stdout)
        self.assertNotIn("router_format", meta)
        # Provenance: the input's hash and where the head count came from.
        with open(os.path.join(FIXTURES, "dit_tiny_p2_ls.pt"), "rb") as f:
            self.assertEqual(meta["source_sha256"], hashlib.sha256(f.read()).hexdigest())
        self.assertEqual(meta["num_heads_from"], "--num-heads")
        # Its training args name DiT-S/2, which this tiny model is not: said, and not used.
        self.assertIn("the training args name DiT-S/2", stdout)

    def test_model_entry_on_request(self):
        ref, _ = reference("dit_tiny_p2_ls")
        got, meta, _ = self.convert(os.path.join(FIXTURES, "dit_tiny_p2_ls.pt"), "--num-heads", "4", "--entry", "model")
        self.assert_bitwise_equal(got, {k: v * np.float32(0.5) for k, v in ref.items()})
        self.assertIn("entry 'model'", meta["source"])

    def test_dydit_ddp_checkpoint(self):
        ref, ref_meta = reference("dydit_tiny_p2")
        got, meta, stdout = self.convert(os.path.join(FIXTURES, "dydit_tiny_p2.pt"))
        self.assert_bitwise_equal(got, ref)  # also: no key keeps the "module." prefix
        self.assertEqual(json.loads(meta["config"]), reference_config(ref_meta))  # num_heads from the routers
        self.assertEqual(meta["router_format"], "current")
        self.assertIn("entry 'ema'", meta["source"])
        self.assertIn("removed 'module.' from 48 keys", stdout)

    def test_bare_state_dict(self):
        ref, ref_meta = reference("dit_tiny_p4_gray")
        got, meta, _ = self.convert(os.path.join(FIXTURES, "dit_tiny_p4_gray_bare.pt"), "--num-heads", "3")
        self.assert_bitwise_equal(got, ref)
        config = json.loads(meta["config"])
        self.assertEqual(config, reference_config(ref_meta))
        self.assertFalse(config["learn_sigma"])
        self.assertIn("(top level)", meta["source"])

    def test_f16_output(self):
        ref, _ = reference("dit_tiny_p2_ls")
        got, _, _ = self.convert(os.path.join(FIXTURES, "dit_tiny_p2_ls.pt"), "--num-heads", "4", "--dtype", "f16")
        self.assert_bitwise_equal(got, {k: v.astype("<f2") for k, v in ref.items()})

    def test_nonstandard_dit_needs_num_heads(self):
        self.assert_fails(os.path.join(FIXTURES, "dit_tiny_p2_ls.pt"), message="pass --num-heads")

    def test_override_contradicting_the_weights(self):
        stderr = self.assert_fails(os.path.join(FIXTURES, "dit_tiny_p2_ls.pt"), "--num-heads", "4",
                                   "--input-size", "16", message="do not match the config")
        self.assertIn("pos_embed", stderr)

    def test_existing_output_needs_force(self):
        out = os.path.join(self.tmp, "out.safetensors")
        with open(out, "wb") as f:
            f.write(b"keep me")
        r = self.run_converter(os.path.join(FIXTURES, "dit_tiny_p2_ls.pt"), "-o", out, "--num-heads", "4")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--force", r.stderr)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), b"keep me")
        r = self.run_converter(os.path.join(FIXTURES, "dit_tiny_p2_ls.pt"), "-o", out, "--num-heads", "4", "--force")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_inspect_lists_without_writing(self):
        r = self.run_converter(os.path.join(FIXTURES, "dydit_tiny_p2.pt"), "--inspect")
        self.assertEqual(r.returncode, 0, r.stderr)
        for text in ("model ", "ema ", "opt ", "args ", "Namespace(model='DiT-S/2', image_size=256)",
                     "would convert: 'ema'", "blocks.1.token_selection.mlp_head.2.weight", '"num_heads": 4'):
            self.assertIn(text, r.stdout)
        self.assertFalse([f for f in os.listdir(FIXTURES) if not f.endswith(".pt")])


class TestHostileAndDamagedInputs(ConverterTestCase):
    def test_os_system_is_refused_without_running(self):
        marker = os.path.join(self.tmp, "pwned")
        command = p_str(f"touch {marker}")
        payloads = {
            "global": (b"cos\nsystem\n" + command + b"\x85R", b"\x80\x02", "os.system"),
            "stack_global": (p_str("posix") + p_str("system") + b"\x93" + command + b"\x85R", b"\x80\x04",
                             "posix.system"),
            # Hidden after a valid state dict, as an extra top-level entry.
            "nested": (p_dict([("ema", state_dict_pickle({"w": np.ones(2)})[0]),
                               ("x", b"cos\nsystem\n" + command + b"\x85R")]), b"\x80\x02", "os.system"),
        }
        for label, (body, protocol, global_name) in payloads.items():
            with self.subTest(label):
                path = os.path.join(self.tmp, f"evil_{label}.pt")
                write_torch_zip(path, body, {"0": np.ones(2, "<f4").tobytes()}, protocol)
                for extra in ([], ["--inspect"]):
                    r = self.run_converter(path, "-o", os.path.join(self.tmp, "out.safetensors"), *extra)
                    self.assertNotEqual(r.returncode, 0)
                    self.assertIn(f"'{global_name}'", r.stderr)
                    self.assertIn(f"evil_{label}.pt", r.stderr)
                    self.assertNotIn("Traceback", r.stderr)
                    self.assertFalse(os.path.exists(marker), "the pickle's os.system call was executed")
                    self.assertFalse(os.path.exists(os.path.join(self.tmp, "out.safetensors")))

    def test_truncated_zip(self):
        with open(os.path.join(FIXTURES, "dit_tiny_p2_ls.pt"), "rb") as f:
            data = f.read()
        path = os.path.join(self.tmp, "truncated.pt")
        with open(path, "wb") as f:
            f.write(data[: len(data) // 2])
        self.assert_fails(path, "--num-heads", "4", message="truncated or damaged")

    def test_legacy_checkpoint(self):
        path = os.path.join(self.tmp, "legacy.pt")
        with open(path, "wb") as f:
            # What torch.save(..., _use_new_zipfile_serialization=False) starts with: a pickled magic number.
            f.write(b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02M\xe9\x03.")
        self.assert_fails(path, message="legacy (non-zip) torch.save checkpoint")

    def test_not_a_checkpoint(self):
        path = os.path.join(self.tmp, "notes.pt")
        with open(path, "w") as f:
            f.write("hello")
        self.assert_fails(path, message="not a PyTorch checkpoint")
        self.assert_fails(os.path.join(self.tmp, "missing.pt"), message="cannot open")

    def test_record_shorter_than_its_storage(self):
        ref, _ = reference("dit_tiny_p2_ls")
        body, records = state_dict_pickle(ref)
        records["0"] = records["0"][:-4]
        path = os.path.join(self.tmp, "short.pt")
        write_torch_zip(path, p_dict([("state_dict", body)]), records)
        self.assert_fails(path, "--num-heads", "4", message="the file is damaged")

    def test_view_reaching_past_its_storage(self):
        ref, _ = reference("dit_tiny_p2_ls")
        body, records = state_dict_pickle(ref)
        # pos_embed [1, 16, 64] re-pointed at offset 1 of its own storage: one element too far.
        key = str(list(ref).index("pos_embed"))  # state_dict_pickle numbers storages in dict order
        body = body.replace(p_tensor(key, 1024, 0, [1, 16, 64], [1024, 64, 1]),
                            p_tensor(key, 1024, 1, [1, 16, 64], [1024, 64, 1]))
        path = os.path.join(self.tmp, "past.pt")
        write_torch_zip(path, p_dict([("state_dict", body)]), records)
        self.assert_fails(path, "--num-heads", "4", message="reaches element 1024 of a storage of 1024")

    def test_state_dict_entry_and_values_beyond_f16(self):
        ref, ref_meta = reference("dit_tiny_p2_ls")
        ref = dict(ref)
        ref["pos_embed"] = ref["pos_embed"].copy()
        ref["pos_embed"][0, 0, 0] = 1e6
        body, records = state_dict_pickle(ref)
        path = os.path.join(self.tmp, "big.pt")
        write_torch_zip(path, p_dict([("state_dict", body), ("epoch", p_int(7))]), records)
        got, meta, _ = self.convert(path, "--num-heads", "4")
        self.assert_bitwise_equal(got, ref)
        self.assertIn("entry 'state_dict'", meta["source"])
        os.unlink(os.path.join(self.tmp, "out.safetensors"))
        self.assert_fails(path, "--num-heads", "4", "--dtype", "f16", message="beyond the F16 range")


class TestSafetensorsInput(ConverterTestCase):
    """A state dict saved as safetensors without our config metadata is converted like a .pt."""

    def write_plain(self, tensors, metadata=None, path=None):
        path = path or os.path.join(self.tmp, "plain.bin")
        header, offset, blobs = {}, 0, []
        for name, arr in tensors.items():
            arr = np.ascontiguousarray(arr)
            kind = {"<f4": "F32", "<f2": "F16"}[arr.dtype.str]
            header[name] = {"dtype": kind, "shape": list(arr.shape), "data_offsets": [offset, offset + arr.nbytes]}
            blobs.append(arr.tobytes())
            offset += arr.nbytes
        if metadata is not None:
            header["__metadata__"] = metadata
        hb = json.dumps(header).encode()
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(hb)) + hb + b"".join(blobs))
        return path

    def test_plain_state_dict_converts(self):
        ref, ref_meta = reference("dit_tiny_p2_ls")
        plain = self.write_plain(ref, metadata={"format": "pt"})
        got, meta, stdout = self.convert(plain, "--num-heads", "4")
        self.assert_bitwise_equal(got, ref)
        self.assertEqual(json.loads(meta["config"]), reference_config(ref_meta))
        self.assertIn("(top level)", meta["source"])
        with open(plain, "rb") as f:
            self.assertEqual(meta["source_sha256"], hashlib.sha256(f.read()).hexdigest())
        # f16 tensors in, f32 out: widened exactly.
        half = self.write_plain({k: v.astype("<f2") for k, v in ref.items()}, path=os.path.join(self.tmp, "half.bin"))
        got, _, _ = self.convert(half, "--num-heads", "4", "--force")
        self.assert_bitwise_equal(got, {k: v.astype("<f2").astype("<f4") for k, v in ref.items()})
        r = self.run_converter(plain, "--inspect", "--num-heads", "4")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("safetensors state dict", r.stdout)

    def test_model_file_is_refused_with_what_to_do(self):
        path = os.path.join(REFERENCE_DIR, "dit_tiny_p2_ls.weights.safetensors")
        self.assert_fails(path, message="already a model file with a 'config' in its metadata")

    def test_damaged_safetensors(self):
        ref, _ = reference("dit_tiny_p2_ls")
        plain = self.write_plain(ref)
        with open(plain, "rb") as f:
            raw = f.read()
        cut = os.path.join(self.tmp, "cut.bin")
        with open(cut, "wb") as f:
            f.write(raw[:-100])
        self.assert_fails(cut, "--num-heads", "4", message="do not fit its size or the file")
        os.remove(cut)
        bad = os.path.join(self.tmp, "bad.bin")
        with open(bad, "wb") as f:
            f.write(struct.pack("<Q", 1 << 40) + b"{}")
        self.assert_fails(bad, message="does not fit a file of")


class TestConfigInference(unittest.TestCase):
    """infer_config on shapes alone, for cases no fixture covers."""

    def shapes(self, kind="dit", router_format=None, **config):
        base = {"input_size": 32, "patch_size": 2, "in_channels": 4, "hidden_size": 1152, "depth": 28,
                "num_heads": 16, "num_classes": 1000, "learn_sigma": True, "mlp_ratio": 4}
        base.update(config)
        return base, cc.expected_shapes(base, kind, router_format)

    def test_dit_table(self):
        for depth, hidden, heads in ((12, 384, 6), (12, 768, 12), (24, 1024, 16), (28, 1152, 16)):
            config, shapes = self.shapes(depth=depth, hidden_size=hidden, num_heads=heads)
            provenance = {}
            got, kind, router_format, notes = cc.infer_config(shapes, {}, "x", None, provenance)
            self.assertEqual((got, kind, router_format), (config, "dit", None))
            self.assertEqual(provenance["num_heads_from"], f"DiT's model table (depth {depth}, width {hidden})")
            self.assertIn("the state dict does not record it", notes[0], "the table is an assumption, and says so")

    @staticmethod
    def args(**values):
        a = cc.TrainingArgs()
        a.__dict__.update(values)
        return a

    def test_heads_from_training_args(self):
        config, shapes = self.shapes(depth=12, hidden_size=768, num_heads=12)
        provenance = {}
        got, _, _, notes = cc.infer_config(shapes, {}, "x", self.args(model="DiT-B/2"), provenance)
        self.assertEqual(got, config)
        self.assertEqual(provenance["num_heads_from"], "training args (model DiT-B/2)")
        self.assertEqual(notes, [])
        # A contradicting --num-heads is refused: the args say what the model was trained with.
        with self.assertRaisesRegex(cc.ConversionError, "--num-heads 8 contradicts the checkpoint's training args"):
            cc.infer_config(shapes, {"num_heads": 8}, "x", self.args(model="DiT-B/2"))
        # Args naming another model (or none of DiT's) are not used, with a note; the table decides.
        for model, says in (("DiT-S/2", "not used for the head count"), ("MyNet", "not one of DiT's")):
            provenance = {}
            got, _, _, notes = cc.infer_config(shapes, {}, "x", self.args(model=model), provenance)
            self.assertEqual(got["num_heads"], 12)
            self.assertTrue(any(says in n for n in notes), notes)
            self.assertTrue(provenance["num_heads_from"].startswith("DiT's model table"))

    def test_num_heads_against_the_table_is_warned(self):
        # The case: DiT-S shapes with a wrong guess of 4 heads (divides 384): allowed,
        # since the shapes cannot tell, but never silently.
        _, shapes = self.shapes(depth=12, hidden_size=384, num_heads=6)
        provenance = {}
        got, _, _, notes = cc.infer_config(shapes, {"num_heads": 4}, "x", None, provenance)
        self.assertEqual((got["num_heads"], provenance["num_heads_from"]), (4, "--num-heads"))
        self.assertTrue(any("differs from the 6 heads" in n and "changes every attention output" in n for n in notes), notes)

    def test_unknown_dit_needs_num_heads_and_says_why(self):
        _, shapes = self.shapes(depth=3, hidden_size=48, num_heads=4)
        with self.assertRaisesRegex(cc.ConversionError, "does not record its head count.*pass --num-heads"):
            cc.infer_config(shapes, {}, "x")

    def test_dydit_early_release_format(self):
        config, shapes = self.shapes("dydit", "early")  # routers with 16 outputs: 17 heads cannot divide 1152
        got, _, router_format, notes = cc.infer_config(shapes, {}, "x")
        self.assertEqual(got, config)
        self.assertEqual(router_format, "early")
        self.assertIn("early", notes[0])

    def test_dydit_ambiguous_router_count(self):
        # 3 router outputs, hidden 48: 4 heads (current format) and 3 heads (early) both divide it.
        config, shapes = self.shapes("dydit", "current", hidden_size=48, num_heads=4, depth=3)
        got, _, router_format, notes = cc.infer_config(shapes, {}, "x")
        self.assertEqual((got["num_heads"], router_format), (4, "current"))
        self.assertIn("assumed the current DyDiT format", notes[0])
        got, _, router_format, _ = cc.infer_config(shapes, {"num_heads": 3}, "x")
        self.assertEqual((got["num_heads"], router_format), (3, "early"))
        with self.assertRaisesRegex(cc.ConversionError, "does not fit routers with 3 outputs"):
            cc.infer_config(shapes, {"num_heads": 6}, "x")

    def test_learn_sigma_and_mlp_ratio(self):
        config, shapes = self.shapes(learn_sigma=False, mlp_ratio=2)
        got, _, _, _ = cc.infer_config(shapes, {}, "x")
        self.assertEqual(got, config)
        with self.assertRaisesRegex(cc.ConversionError, "final_layer.linear.weight"):
            cc.infer_config(shapes, {"learn_sigma": True}, "x")

    def test_missing_and_unexpected_keys(self):
        _, shapes = self.shapes()
        del shapes["blocks.3.attn.qkv.bias"]
        shapes["blocks.3.attn.q_norm.weight"] = (72,)
        with self.assertRaisesRegex(cc.ConversionError, r"(?s)missing 'blocks.3.attn.qkv.bias'.*unexpected"):
            cc.infer_config(shapes, {}, "x")
        with self.assertRaisesRegex(cc.ConversionError, "'x_embedder.proj.weight' is missing"):
            cc.infer_config({"pos_embed": (1, 4, 8)}, {}, "x")


if __name__ == "__main__":
    unittest.main()
