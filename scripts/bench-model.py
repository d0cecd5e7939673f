#!/usr/bin/env python3
"""Writes the benchmark model as a llava-hf LLaVA-1.5 folder, so `modalflow run` and `modalflow plan` can run on it.

The decoder has `modalflow bench knockout`'s geometry (src/ModalFlow/Benchmarks/KnockoutBenchmark.cs: hidden 512,
16 layers, 8 heads, intermediate 1376, vocab 32064); the vision side is the tiny-llava-1.5 fixture's CLIP geometry
(336 px, 14-px patches: 576 image tokens, as LLaVA-1.5) at fixture width; tokenizer and processor files are the
fixture's (tests/fixtures/tiny-llava-1.5: LLaVA-1.5's own tokenizer). Weights are random BF16 (|w| in [1/32, 1/16),
random sign; lm_head twice that; norms 1), so a run needs --filter none. Python standard library only.

    python3 scripts/bench-model.py OUT_DIR [--layers 16] [--hidden 512] [--dtype bf16|f32]

--dtype f32 stores the same values widened to F32 (BF16 bits << 16), e.g. to time loading an F32 file as F32.
"""
import json, os, shutil, struct, sys

def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        sys.exit(__doc__)
    out = args[0]
    opts = dict(zip(args[1::2], args[2::2]))
    layers, hidden = int(opts.get("--layers", 16)), int(opts.get("--hidden", 512))
    f32 = {"bf16": False, "f32": True}.get(opts.get("--dtype", "bf16"))
    if f32 is None:
        sys.exit(f"--dtype: expected bf16 or f32, got {opts['--dtype']}")
    width = 4 if f32 else 2
    heads, inter, vocab = hidden // 64, round(hidden * 2.6875), 32064
    here = os.path.dirname(os.path.abspath(__file__))
    fixture = os.path.join(here, "..", "tests", "fixtures", "tiny-llava-1.5")
    os.makedirs(out, exist_ok=True)
    for f in ["tokenizer.model", "added_tokens.json", "special_tokens_map.json", "tokenizer_config.json",
              "preprocessor_config.json", "generation_config.json"]:
        shutil.copy(os.path.join(fixture, f), os.path.join(out, f))
    cfg = json.load(open(os.path.join(fixture, "config.json")))
    cfg["text_config"].update(hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                              num_attention_heads=heads, num_key_value_heads=heads, vocab_size=vocab)
    cfg["torch_dtype"] = "float32" if f32 else "bfloat16"
    json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=2)
    vis = cfg["vision_config"]
    vh, vi, vl = vis["hidden_size"], vis["intermediate_size"], vis["num_hidden_layers"]
    npos = (vis["image_size"] // vis["patch_size"]) ** 2 + 1

    shapes = {}
    t = "language_model."
    shapes[t + "lm_head.weight"] = [vocab, hidden]
    shapes[t + "model.embed_tokens.weight"] = [vocab, hidden]
    shapes[t + "model.norm.weight"] = [hidden]
    for l in range(layers):
        p = f"{t}model.layers.{l}."
        for n in ["input_layernorm", "post_attention_layernorm"]:
            shapes[p + n + ".weight"] = [hidden]
        shapes[p + "mlp.down_proj.weight"] = [hidden, inter]
        shapes[p + "mlp.gate_proj.weight"] = [inter, hidden]
        shapes[p + "mlp.up_proj.weight"] = [inter, hidden]
        for n in "qkvo":
            shapes[p + f"self_attn.{n}_proj.weight"] = [hidden, hidden]
    shapes["multi_modal_projector.linear_1.bias"] = [hidden]
    shapes["multi_modal_projector.linear_1.weight"] = [hidden, vh]
    shapes["multi_modal_projector.linear_2.bias"] = [hidden]
    shapes["multi_modal_projector.linear_2.weight"] = [hidden, hidden]
    v = "vision_tower.vision_model."
    shapes[v + "embeddings.class_embedding"] = [vh]
    shapes[v + "embeddings.patch_embedding.weight"] = [vh, 3, vis["patch_size"], vis["patch_size"]]
    shapes[v + "embeddings.position_embedding.weight"] = [npos, vh]
    for n in ["post_layernorm", "pre_layrnorm"]:
        shapes[v + n + ".bias"] = [vh]
        shapes[v + n + ".weight"] = [vh]
    for l in range(vl):
        p = f"{v}encoder.layers.{l}."
        for n in ["layer_norm1", "layer_norm2"]:
            shapes[p + n + ".bias"] = [vh]
            shapes[p + n + ".weight"] = [vh]
        shapes[p + "mlp.fc1.bias"] = [vi]
        shapes[p + "mlp.fc1.weight"] = [vi, vh]
        shapes[p + "mlp.fc2.bias"] = [vh]
        shapes[p + "mlp.fc2.weight"] = [vh, vi]
        for n in ["k_proj", "q_proj", "v_proj", "out_proj"]:
            shapes[p + f"self_attn.{n}.bias"] = [vh]
            shapes[p + f"self_attn.{n}.weight"] = [vh, vh]

    # BF16 bits: sign | exponent (8) | mantissa (7). Exponent 122 = 2^-5: |w| in [1/32, 1/16); 123 for lm_head.
    def random_bf16(count, exponent):
        lo_table = bytes((b & 0x7F) | ((exponent & 1) << 7) for b in range(256))
        hi_table = bytes((b & 0x80) | (exponent >> 1) for b in range(256))
        buf = bytearray(2 * count)
        buf[0::2] = os.urandom(count).translate(lo_table)
        buf[1::2] = os.urandom(count).translate(hi_table)
        return bytes(buf)

    def ones_bf16(count):
        return struct.pack("<H", 0x3F80) * count

    def widened(bf16):
        # BF16 → F32 exactly: the BF16 bits become the high half of each little-endian F32.
        if not f32:
            return bf16
        buf = bytearray(2 * len(bf16))
        buf[2::4] = bf16[0::2]
        buf[3::4] = bf16[1::2]
        return bytes(buf)

    header, offset, names = {}, 0, sorted(shapes)
    for name in names:
        count = 1
        for d in shapes[name]:
            count *= d
        header[name] = {"dtype": "F32" if f32 else "BF16", "shape": shapes[name], "data_offsets": [offset, offset + width * count]}
        offset += width * count
    header["__metadata__"] = {"format": "pt"}
    hjson = json.dumps(header, separators=(",", ":")).encode()
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for name in names:
            count = (header[name]["data_offsets"][1] - header[name]["data_offsets"][0]) // width
            is_norm = name.endswith(".weight") and ("norm" in name or "layrnorm" in name)
            f.write(widened(ones_bf16(count) if is_norm else random_bf16(count, 123 if "lm_head" in name else 122)))
    print(f"{out}: LLaVA-1.5 geometry, decoder hidden {hidden}, {layers} layers, {heads} heads, vocab {vocab}; "
          f"{offset / 2**20:.0f} MB {'F32' if f32 else 'BF16'}")

main()
